"""torchvision.models for tensorgrad: classification models built untrained (weights=None), with torchvision's
module names so that state_dict keys match torchvision's; get_model / list_models over the registered builders."""
from ._api import get_model, get_model_builder, get_model_weights, get_weight, list_models
from .mobilenetv2 import MobileNetV2, mobilenet_v2
from .resnet import (BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet101, resnet152,
                     resnext50_32x4d, resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2)
from .vgg import (VGG, AlexNet, alexnet, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn)

__all__ = ["get_model", "get_model_builder", "get_model_weights", "get_weight", "list_models", "ResNet", "BasicBlock",
           "Bottleneck", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
           "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "VGG", "vgg11", "vgg11_bn",
           "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "AlexNet", "alexnet", "MobileNetV2",
           "mobilenet_v2"]
