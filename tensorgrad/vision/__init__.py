"""torchvision for tensorgrad: the pure-Python part of torchvision that public vision programs use --
transforms (v1), datasets (MNIST family, CIFAR, image folders, FakeData), utils (make_grid, save_image) and models
(ResNet, VGG, AlexNet, MobileNetV2; untrained weights only) -- written on tensorgrad's ops. Under
``python -m tensorgrad.compat`` it is what ``import torchvision`` imports."""
from . import datasets, io, models, ops, transforms, utils
from ._version import __version__

_backend = "PIL"


def get_image_backend():
    return _backend


def set_image_backend(backend):
    if backend != "PIL":
        raise ValueError(f"set_image_backend: tensorgrad.vision decodes images with PIL only, got {backend!r}")


def get_video_backend():
    raise NotImplementedError("get_video_backend: tensorgrad.vision has no video support")


__all__ = ["datasets", "io", "models", "ops", "transforms", "utils", "get_image_backend", "set_image_backend", "__version__"]
