"""Lazy modules: LazyLinear, LazyConv1d/2d/3d, whose input size is read from the first input. Until then their
parameters are UninitializedParameters (no data; a size-0 array keeps the dtype and device to materialize with);
the first call materializes them, runs reset_parameters and turns the module into its plain class (Linear,
Conv1d/2d/3d), as torch's LazyModuleMixin does. load_state_dict into a lazy module materializes from the saved shapes."""
from ..autograd.grad_mode import no_grad
from ..backend import get_xp
from .. import dtypes
from .conv import Conv1d, Conv2d, Conv3d
from .layers import Linear
from .module import Parameter


class UninitializedParameter(Parameter):
    """A Parameter whose shape is not known yet; materialize(shape) gives it (uninitialized) data of that shape and
    makes it a plain Parameter."""
    __slots__ = ()
    cls_to_become = Parameter

    def __new__(cls, requires_grad=True, device=None, dtype=None):
        return object.__new__(cls)

    def __init__(self, requires_grad=True, device=None, dtype=None):
        xp = get_xp(device or "cpu")
        Parameter.__init__(self, xp.empty((0,), dtype=dtypes.to_dtype(dtype) or dtypes.get_default_dtype()),
                           requires_grad)

    def materialize(self, shape, device=None, dtype=None):
        """Data of ``shape`` (uninitialized, as torch's), and the class cls_to_become (lazy_extra's
        UninitializedBuffer materializes the same way)."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        xp = get_xp(device) if device is not None else self._xp
        self.array = xp.empty(shape, dtype=self.dtype if dtype is None else dtypes.to_dtype(dtype))
        self._bump()
        self.__class__ = self.cls_to_become

    def __repr__(self):
        return "<UninitializedParameter>"

    __str__ = __repr__


def _uninitialized(p):
    return isinstance(p, UninitializedParameter)


class _LazyMixin:
    """The first call materializes the parameters from the input (initialize_parameters), then the module becomes
    cls_to_become."""
    cls_to_become = None

    def has_uninitialized_params(self):
        return any(_uninitialized(p) for p in self._parameters.values())

    def __call__(self, *args, **kwargs):
        if self.has_uninitialized_params():
            with no_grad():
                self.initialize_parameters(*args, **kwargs)
            if not self.has_uninitialized_params():
                self.__class__ = self.cls_to_become
                return self(*args, **kwargs)  # (now the plain class's call)
        return super().__call__(*args, **kwargs)

    def reset_parameters(self):
        if not self.has_uninitialized_params():
            super().reset_parameters()

    def load_state_dict(self, state_dict, strict=True, assign=False):
        prefix_free = {k: v for k, v in state_dict.items() if "." not in k}
        for name, p in self._parameters.items():
            if _uninitialized(p) and name in prefix_free:
                p.materialize(tuple(prefix_free[name].shape))
        if self.has_uninitialized_params():
            return super().load_state_dict(state_dict, strict, assign)
        self._infer_sizes()
        self.__class__ = self.cls_to_become
        return self.load_state_dict(state_dict, strict, assign)


class LazyLinear(_LazyMixin, Linear):
    """Linear with in_features read from the first input's last dim."""
    cls_to_become = Linear

    def __init__(self, out_features, bias=True, device=None, dtype=None):
        super().__init__(0, 0, False, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = out_features
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def initialize_parameters(self, input, *args, **kwargs):
        self.in_features = input.shape[-1]
        self.weight.materialize((self.out_features, self.in_features))
        if self.bias is not None:
            self.bias.materialize((self.out_features,))
        self.reset_parameters()

    def _infer_sizes(self):
        self.in_features = self.weight.shape[1]


class _LazyConv(_LazyMixin):
    def __init__(self, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1, bias=True,
                 padding_mode="zeros", device=None, dtype=None):
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False, padding_mode, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_channels = out_channels
        if out_channels % groups:
            raise ValueError(f"{type(self).__name__}: out_channels must be divisible by groups, got {out_channels} "
                             f"and {groups}")
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def initialize_parameters(self, input, *args, **kwargs):
        batched = input.ndim == self._nd + 2
        self.in_channels = input.shape[1] if batched else input.shape[0]
        if self.in_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels must be divisible by groups, got "
                             f"{self.in_channels} (input of shape {tuple(input.shape)}) and {self.groups}")
        self.weight.materialize((self.out_channels, self.in_channels // self.groups) + tuple(self.kernel_size))
        if self.bias is not None:
            self.bias.materialize((self.out_channels,))
        self.reset_parameters()

    def _infer_sizes(self):
        self.in_channels = self.weight.shape[1] * self.groups


class LazyConv1d(_LazyConv, Conv1d):
    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    cls_to_become = Conv3d
