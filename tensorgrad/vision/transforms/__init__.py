"""torchvision.transforms for tensorgrad: the v1 transform classes (transforms.py) and transforms.functional."""
from . import functional
from .functional import InterpolationMode
from .transforms import (CenterCrop, ColorJitter, Compose, ConvertImageDtype, FiveCrop, Grayscale, Lambda, Normalize,
                         Pad, PILToTensor, RandomApply, RandomChoice, RandomCrop, RandomErasing, RandomGrayscale,
                         RandomHorizontalFlip, RandomOrder, RandomResizedCrop, RandomRotation, RandomVerticalFlip,
                         Resize, TenCrop, ToPILImage, ToTensor)

__all__ = ["Compose", "ToTensor", "PILToTensor", "ConvertImageDtype", "ToPILImage", "Normalize", "Resize",
           "CenterCrop", "Pad", "Lambda", "RandomApply", "RandomChoice", "RandomOrder", "RandomCrop",
           "RandomHorizontalFlip", "RandomVerticalFlip", "RandomResizedCrop", "FiveCrop", "TenCrop", "ColorJitter",
           "RandomRotation", "Grayscale", "RandomGrayscale", "RandomErasing", "InterpolationMode", "functional"]
