"""More lazy modules, as torch's: LazyBatchNorm1d/2d/3d, LazyInstanceNorm1d/2d/3d (num_features from the input's
dim 1) and LazyConvTranspose1d/2d/3d (in_channels from the channel dim). The norms' running_mean / running_var are
UninitializedBuffers until then; num_batches_tracked is a real 0 from the start, as in torch.

As torch's LazyModuleMixin, the first call infers the sizes and turns the module into its plain class, even when
nothing was left to infer (a LazyInstanceNorm without affine or running stats becomes InstanceNorm with
num_features 0, as torch's). load_state_dict materializes from the saved shapes (lazy.py's convention)."""
import numpy as np

from ..autograd.grad_mode import no_grad
from ..backend import get_xp
from .. import dtypes
from ..tensor import Tensor, tensor as _tensor
from .conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .lazy import UninitializedParameter, _LazyMixin
from .norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d


class UninitializedBuffer(Tensor):
    """A buffer whose shape is not known yet; materialize(shape) gives it (uninitialized) data and makes it a plain
    Tensor."""
    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad=False, device=None, dtype=None):
        xp = get_xp(device or "cpu")
        Tensor._init(self, xp.empty((0,), dtype=dtypes.to_dtype(dtype) or dtypes.get_default_dtype()), None, None,
                     requires_grad)

    materialize = UninitializedParameter.materialize  # (the same steps; it becomes cls_to_become, a plain Tensor)

    def __repr__(self):
        return "<UninitializedBuffer>"

    __str__ = __repr__


def _lazy(t):
    return isinstance(t, (UninitializedParameter, UninitializedBuffer))


class _LazyAlways(_LazyMixin):
    """lazy.py's mixin, counting uninitialized buffers too, and becoming the plain class on the first call even when
    nothing was uninitialized (torch's _infer_parameters hook does both)."""

    def has_uninitialized_params(self):
        return any(_lazy(t) for t in list(self._parameters.values()) + list(self._buffers.values()))

    def __call__(self, *args, **kwargs):
        with no_grad():
            self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"{type(self).__name__}: module has lazy parameters or buffers the input did not "
                               "determine")
        self.__class__ = self.cls_to_become
        return self(*args, **kwargs)

    def load_state_dict(self, state_dict, strict=True, assign=False):
        for name, t in list(self._parameters.items()) + list(self._buffers.items()):
            if _lazy(t) and name in state_dict:
                t.materialize(tuple(state_dict[name].shape))
        return super(_LazyMixin, self).load_state_dict(state_dict, strict, assign)  # (past lazy.py's version)


class _LazyNorm(_LazyAlways):
    def __init__(self, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, device=None, dtype=None, *,
                 bias=True):
        super().__init__(0, eps, momentum, False, False, device, dtype, bias=False)
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = _tensor(0, dtype=np.int64, device=device)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.num_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs):
        if not self.has_uninitialized_params():
            return
        self.num_features = input.shape[1]  # (dim 1 also for an unbatched instance-norm input: torch's choice)
        for t in (self.weight, self.bias, self.running_mean, self.running_var):
            if t is not None:
                t.materialize((self.num_features,))
        self.reset_parameters()

    def load_state_dict(self, state_dict, strict=True, assign=False):
        out = super().load_state_dict(state_dict, strict, assign)
        shaped = [t for t in (self.weight, self.running_mean) if t is not None and not _lazy(t)]
        if shaped:
            self.num_features = shaped[0].shape[0]
        if not self.has_uninitialized_params():
            self.__class__ = self.cls_to_become
        return out


class LazyBatchNorm1d(_LazyNorm, BatchNorm1d):
    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNorm, BatchNorm2d):
    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNorm, BatchNorm3d):
    cls_to_become = BatchNorm3d


class _LazyInstanceNorm(_LazyNorm):
    """(torch's LazyInstanceNorm takes _LazyNormBase's defaults, affine=True and track_running_stats=True, unlike
    InstanceNorm's False: kept, so the same constructor call builds the same module)"""


class LazyInstanceNorm1d(_LazyInstanceNorm, InstanceNorm1d):
    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyInstanceNorm, InstanceNorm2d):
    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyInstanceNorm, InstanceNorm3d):
    cls_to_become = InstanceNorm3d


class _LazyConvTranspose(_LazyAlways):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1, bias=True,
                 dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False, dilation, padding_mode,
                         device, dtype)
        self.out_channels = out_channels
        if out_channels % groups:
            raise ValueError(f"{type(self).__name__}: out_channels must be divisible by groups, got {out_channels} "
                             f"and {groups}")
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self):
        if not self.has_uninitialized_params() and self.in_channels != 0:
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs):
        if not self.has_uninitialized_params():
            return
        batched = input.ndim == self._nd + 2
        self.in_channels = input.shape[1] if batched else input.shape[0]
        if self.in_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels must be divisible by groups, got "
                             f"{self.in_channels} (input of shape {tuple(input.shape)}) and {self.groups}")
        self.weight.materialize((self.in_channels, self.out_channels // self.groups) + tuple(self.kernel_size))
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()

    def load_state_dict(self, state_dict, strict=True, assign=False):
        out = super().load_state_dict(state_dict, strict, assign)
        if not self.has_uninitialized_params():
            self.in_channels = self.weight.shape[0]
            self.__class__ = self.cls_to_become
        return out


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    cls_to_become = ConvTranspose3d
