"""torch.nn.utils.convert_conv2d_weight_memory_format / convert_conv3d_weight_memory_format: the weights of a
model's (transposed) convolutions re-laid out in a memory format (channels_last: NHWC strides), the values kept."""
from ...autograd.grad_mode import no_grad
from ..conv import Conv2d, Conv3d, ConvTranspose2d, ConvTranspose3d


def _convert(module, memory_format, kinds):
    if isinstance(module, kinds):
        with no_grad():
            module.weight.data = module.weight.detach().clone().contiguous(memory_format=memory_format)
    for child in module.children():
        _convert(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """module, with the weight of every Conv2d and ConvTranspose2d in it (itself included) in memory_format."""
    return _convert(module, memory_format, (Conv2d, ConvTranspose2d))


def convert_conv3d_weight_memory_format(module, memory_format):
    """module, with the weight of every Conv3d and ConvTranspose3d in it (itself included) in memory_format."""
    return _convert(module, memory_format, (Conv3d, ConvTranspose3d))
