"""tensorgrad: a small, hackable reverse-mode autodiff tensor framework with a PyTorch-like API."""
from .backend.host import tune_malloc as _tune_malloc
_tune_malloc()  # glibc keeps freed arrays in the heap: no page faults on every step (backend/host.py)
import warnings as _warnings
# NumPy's floating-point warnings (1/0, 0/0, overflow) raised inside tensorgrad's own ops: torch computes inf / nan
# silently, so a script's output must not gain them. Only warnings whose frame is a tensorgrad module are filtered
# (the user's own NumPy calls still warn), and nothing is paid until one is raised (np.errstate costs ~1.3 us per op).
_warnings.filterwarnings("ignore", message=r"(divide by zero|invalid value|overflow) encountered",
                         category=RuntimeWarning, module=r"tensorgrad\.")
from . import dtypes
from .dtypes import (float16, half, bfloat16, float32, float64, double, int64, long, int32, int16, int8, uint8, bool_,
                     get_default_dtype, set_default_dtype, finfo, iinfo, can_cast)
from .dtypes import bool  # noqa: F401  (tensorgrad.bool, like torch.bool)
from .dtypes import complex64, complex128, cfloat, cdouble, complex32, chalf  # noqa: F401
from .dtypes import float, int, int16 as short  # noqa: F401  (torch.float, torch.int, torch.short)
from .backend import Device, Device as device, cuda_available
# autograd before tensor: tensor.py imports autograd.grad_mode, whose package imports function/engine, which build
# on Tensor; entering through the autograd package loads them in the one order that works.
from . import autograd
from .tensor import Tensor, tensor
from ._size import Size
from ._memory_format import memory_format, contiguous_format, channels_last, channels_last_3d, preserve_format
from .factories import (zeros, ones, empty, full, zeros_like, ones_like, full_like, empty_like, randn, rand, randint,
                        randn_like, rand_like, randperm, arange, linspace, eye, from_numpy, from_dlpack,
                        as_tensor)
from .random import Generator, manual_seed, seed, initial_seed, get_rng_state, set_rng_state, default_generator
from .autograd import no_grad, enable_grad, set_grad_enabled, is_grad_enabled
from .autograd.grad_mode import inference_mode, is_inference_mode_enabled
from .ops.elementwise import (add, sub, mul, div, pow, neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, maximum,
                              minimum, clamp, eq, ne, lt, le, gt, ge)
from .ops.elementwise import clamp as clip
from .ops.elementwise_math import (sin, cos, erf, log1p, expm1, log2, log10, reciprocal, sign, floor, ceil, round,
                                   trunc, frac, square, lerp, logical_not, logical_and, logical_or, logical_xor,
                                   addcmul, addcdiv, floor_divide, remainder)
from .ops.special import (erfc, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, erfinv, lgamma, digamma, polygamma,
                          logit, deg2rad, rad2deg, atan2, hypot, logaddexp, logaddexp2, xlogy, fmod, copysign, fmax,
                          fmin, bitwise_and, bitwise_or, bitwise_xor, bitwise_not, bitwise_left_shift,
                          bitwise_right_shift, signbit, isposinf, isneginf)
from .ops.special import (asin as arcsin, acos as arccos, atan as arctan, asinh as arcsinh, acosh as arccosh,  # noqa
                          atanh as arctanh, atan2 as arctan2)
from .ops.reduce import (sum, mean, var, std, amax, amin, max, min, argmax, argmin, logsumexp, norm, median, allclose,
                         equal, trace)
from .ops.scan import cumsum, cumprod, logcumsumexp, prod
from .ops.movement import (reshape, permute, transpose, t, expand, squeeze, unsqueeze, flatten, cat, stack, split, chunk,
                           tril, triu, masked_fill, flip, roll, tile, unbind, narrow, select, broadcast_to)
from .ops.indexing import (gather, take_along_dim, scatter, scatter_add, index_select, index_add, masked_select, nonzero,
                           argwhere, diag, diagonal, diag_embed, repeat_interleave)
from .ops.matmul import (matmul, mm, bmm, mv, dot, vdot, outer, ger, inner, tensordot, addmm, addmv, baddbmm, addbmm,
                         addr)
from .ops.einsum import einsum
from .ops.nn import softmax, log_softmax
from .ops.composite import (topk, sort, argsort, multinomial, where, isnan, isinf, isfinite, isclose, any, all,
                            count_nonzero, clone, clamp_min, clamp_max, meshgrid, cartesian_prod, cdist, unique,
                            unique_consecutive, bincount, searchsorted, bucketize, histc, nan_to_num, tensor_split,
                            diff)
from .ops import methods as _methods  # noqa: F401  (attaches Tensor's operators and op methods)
# torch functions composed of the ops above (ops/extra_*.py); extra_methods attaches their Tensor methods
from .ops.extra_shape import (hstack, vstack, row_stack, column_stack, dstack, hsplit, vsplit, dsplit, atleast_1d,
                              atleast_2d, atleast_3d, block_diag, combinations, tril_indices, triu_indices, vander,
                              rot90, fliplr, flipud, unflatten, ravel, swapaxes, swapaxes as swapdims, take,
                              narrow_copy, select_scatter, slice_scatter, diagonal_scatter)
from .ops.movement import movedim, movedim as moveaxis  # noqa: E402
from .ops.extra_stats import (nansum, nanmean, std_mean, var_mean, aminmax, kthvalue, mode, msort, cummax, cummin,
                              nanmedian, quantile, nanquantile, cov, corrcoef, dist, pdist, renorm, trapezoid, trapz,
                              cumulative_trapezoid, gradient, histogram)
from .ops.extra_math import (absolute, negative, divide, true_divide, multiply, subtract, greater, greater_equal, less,
                             less_equal, not_equal, fix, sgn, sinc, heaviside, nextafter, frexp, ldexp, isin, logspace,
                             is_floating_point, promote_types, result_type)
from .ops.extra_math import divide as div  # noqa: E402,F811  (torch.div takes rounding_mode, as divide)
from .ops.extra_math import add, subtract as sub  # noqa: E402,F811  (torch.add / torch.sub take alpha)
from .ops.extra_index import index_fill, index_copy, index_put, masked_scatter, scatter_reduce
from .ops.extra_random import normal, bernoulli, poisson, randint_like
from .ops import extra_methods as _extra_methods  # noqa: F401
from .ops.extra_compat import (exp2, float_power, positive, gcd, lcm, kron, diagflat, broadcast_shapes,  # noqa: E402
                               broadcast_tensors, unravel_index, split_with_sizes, unsafe_split, unsafe_chunk,
                               unsafe_split_with_sizes, chain_matmul, scalar_tensor, asarray, hann_window,
                               hamming_window, blackman_window, bartlett_window, kaiser_window, is_signed, is_complex,
                               is_same_size, typename)
from .ops.extra_compat import range_ as range  # noqa: E402,A001  (torch.range: deprecated, inclusive)
# complex tensors (ops/complex.py: its functions replace the real-only sgn / vdot above; it attaches .real, .H, ...)
from .ops.complex import (conj, conj_physical, resolve_conj, resolve_neg, is_conj, is_neg, real, imag,  # noqa: E402
                          complex, polar, view_as_real, view_as_complex, angle, sgn, vdot, adjoint)
from .ops import complex_more as _complex_more  # noqa: E402,F401  (registers the complex forms of more ops)
from .settings import (set_num_threads, get_num_threads, set_num_interop_threads, get_num_interop_threads,  # noqa
                       use_deterministic_algorithms, are_deterministic_algorithms_enabled,
                       is_deterministic_algorithms_warn_only_enabled, set_deterministic_debug_mode,
                       get_deterministic_debug_mode, set_default_device, get_default_device)
import math as _math  # noqa: E402
inf, nan, pi, e, newaxis = _math.inf, _math.nan, _math.pi, _math.e, None
from ._tensor_str import set_printoptions
from .legacy import LEGACY as _LEGACY
globals().update(_LEGACY)  # torch.FloatTensor, torch.LongTensor, ... (tensorgrad/legacy.py)
from .storage import UntypedStorage  # noqa: E402  (storage.py: what libraries read of a tensor's memory)
from . import linalg
# torch's top-level spellings of the linalg ops and their Tensor methods (ops/linalg_methods.py; norm gains 'nuc')
from .ops.linalg_methods import (inverse, det, logdet, slogdet, pinverse, cholesky, qr, svd, matrix_power,  # noqa: E402
                                 matrix_exp, cross, triangular_solve, cholesky_solve, cholesky_inverse, norm,
                                 lu, lu_solve, lu_unpack, geqrf, orgqr, ormqr, svd_lowrank, pca_lowrank, lstsq, solve,
                                 symeig, eig, matrix_rank, lobpcg)
from . import nn, optim, amp  # noqa: E402
from .nn.functional import cosine_similarity, pairwise_distance  # noqa: E402  (torch.* spells them too)
# torch.* spellings of functionals whose torch.* signature is F's (the ATen ones with other signatures, such as
# torch.embedding(weight, input) or the losses' integer reduction, come from nn/torch_aliases.py below)
from .nn.functional import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d,  # noqa
                            pixel_shuffle, pixel_unshuffle, prelu, selu, celu, rrelu, threshold, hardshrink,
                            max_pool1d, max_pool2d, max_pool3d, avg_pool1d, adaptive_avg_pool1d, bilinear,
                            channel_shuffle, dropout, alpha_dropout, feature_alpha_dropout, layer_norm, group_norm,
                            relu_, selu_, celu_, threshold_, rrelu_)
from .amp.autocast import autocast  # noqa: E402  (torch.autocast(device_type, dtype=..., enabled=...))
from . import backends  # noqa: E402
from .backends import set_float32_matmul_precision, get_float32_matmul_precision  # noqa: E402
# tensorgrad.checkpoint(fn, *xs) is the function (PyTorch spells it torch.utils.checkpoint.checkpoint); the module
# of the same name stays importable: `from tensorgrad.checkpoint import checkpoint_sequential`.
from .checkpoint import checkpoint, checkpoint_sequential  # noqa: E402
from . import func  # noqa: E402  (torch.func: grad, grad_and_value, vjp, jacrev, hessian)
from .func import vmap  # noqa: E402  (torch.vmap is torch.func.vmap)
from . import distributions  # noqa: E402  (torch.distributions: Normal, Categorical, kl_divergence, ...)
from .serialization import save, load  # noqa: E402  (torch.save / torch.load, without pickle)
from . import sparse  # noqa: E402  (sparse COO tensors: tensorgrad/sparse/, torch.sparse)
from . import fft  # noqa: E402  (torch.fft: tensorgrad/fft/)
from .fft.stft import stft, istft  # noqa: E402
from .sparse.api import sparse_coo_tensor, spmm  # noqa: E402
from .backend.sparse_coo import sparse_coo, strided  # noqa: E402  (torch's layouts: Tensor.layout)

# torch's top-level spellings of what the ops compute (ops/toplevel_compat.py installs torch.sin_ & co. and the
# *_copy variants from Tensor's methods), ATen's signatures of the functionals (nn/torch_aliases.py: these replace
# layer_norm and group_norm with their torch.* forms, which take cudnn_enable(d) positionally), autocast's state
from .ops import toplevel_compat as _toplevel  # noqa: E402
from .ops.toplevel_compat import (fill, rsub, detach, concatenate, isreal, is_nonzero, get_device,  # noqa: E402
                                  is_inference, is_storage, index_reduce, segment_reduce, histogramdd, binomial, put,
                                  is_anomaly_enabled, is_anomaly_check_nan_enabled, set_anomaly_enabled,
                                  set_warn_always, is_warn_always_enabled, dtype, layout, is_vulkan_available,
                                  set_flush_denormal, to_dlpack, nonzero_static, set_default_tensor_type)
from .ops.strided import as_strided, as_strided_scatter, empty_strided, empty_permuted, frombuffer  # noqa: E402
from .ops.special_more import i0, igamma, igammac, mvlgamma  # noqa: E402
from .nn.torch_aliases import (embedding, batch_norm, instance_norm, layer_norm, group_norm, rms_norm,  # noqa
                               binary_cross_entropy_with_logits, cosine_embedding_loss, hinge_embedding_loss,
                               margin_ranking_loss, triplet_margin_loss, kl_div, poisson_nll_loss, ctc_loss,
                               constant_pad_nd, convolution, max_pool1d_with_indices, adaptive_max_pool1d,
                               grid_sampler, grid_sampler_2d, grid_sampler_3d, affine_grid_generator, conv_tbc,
                               native_dropout, native_layer_norm, native_batch_norm, embedding_renorm_,
                               native_group_norm, native_channel_shuffle, norm_except_dim, frobenius_norm,
                               nuclear_norm,
                               feature_dropout, dropout_, alpha_dropout_, feature_dropout_,
                               feature_alpha_dropout_, lstm_cell, gru_cell, rnn_tanh_cell, rnn_relu_cell, lstm, gru,
                               rnn_tanh, rnn_relu)
from .amp.state import (is_autocast_enabled, set_autocast_enabled, get_autocast_dtype,  # noqa: E402
                        set_autocast_dtype, is_autocast_cpu_enabled, set_autocast_cpu_enabled,
                        get_autocast_cpu_dtype, set_autocast_cpu_dtype, get_autocast_gpu_dtype,
                        set_autocast_gpu_dtype, autocast_increment_nesting, autocast_decrement_nesting,
                        clear_autocast_cache, is_autocast_cache_enabled, set_autocast_cache_enabled)
from .amp.grad_scaler import GradScaler  # noqa: E402  (torch.GradScaler)
_toplevel.install(globals())

from . import out_arg as _out_arg  # noqa: E402
_out_arg.install(globals())  # torch's out= on the functions above (tensorgrad.add(a, b, out=c))
from .ops.foreach import FUNCTIONS as _FOREACH  # noqa: E402
globals().update(_FOREACH)  # torch._foreach_add_ & co. (ops/foreach.py: multi-tensor optimizer steps)
from . import kwarg_aliases as _kwarg_aliases  # noqa: E402
_kwarg_aliases.install(globals(), Tensor)  # torch's axis= / keepdims= / x.flip(dims=...) spellings (kwarg_aliases.py)

# Imported on first use, so `import tensorgrad` stays light (these pull in matplotlib, graphviz, the GPT).
_LAZY_SUBMODULES = ("models", "data", "io", "train", "profiler", "planner", "viz", "diagnostics", "provenance",
                    "cuda", "utils", "distributed", "compat", "accelerator", "special", "testing", "jit", "hub",
                    "version", "compiler")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'tensorgrad' has no attribute {name!r}")

concat = cat


def compile(model=None, **kwargs):
    """torch.compile's call shape, compiling nothing: returns ``model`` (a Module or a function) unchanged, and as a
    decorator (``@tensorgrad.compile(mode=...)``) returns the function unchanged. tensorgrad runs eagerly; the way
    to remove per-op launch overhead on CUDA is explicit graph capture (tensorgrad.cuda.graph / GraphedStep)."""
    if model is None:
        return lambda fn: fn
    return model


def is_tensor(x):
    return isinstance(x, Tensor)


def numel(x):
    return x.numel()


from ._version import __version__  # noqa: E402,F401
