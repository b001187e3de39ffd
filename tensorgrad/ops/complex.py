"""Complex tensors (complex64 / complex128) and their gradients, in PyTorch's convention.

For a real loss L of a complex z = x + iy, z.grad is dL/dx + i dL/dy (the conjugate Wirtinger derivative, times 2).
A holomorphic op's backward therefore multiplies the incoming gradient by the *conjugate* of the derivative, which
is conj(real_backward(conj(g))) when the real op's backward is the analytic formula g * f'(z): ``_holomorphic``
builds the complex twin of such an op that way, and registers it in autograd.function.complex_handlers, where
Function.apply sends a complex input. Ops whose backward multiplies by no derivative (movement, add, sum, where)
take complex arrays as they are (takes_complex). Any other op given a complex tensor is refused by
Function.apply, naming the op and the dtype (torch refuses most of them too: relu, max, sort, comparisons).

Differs from torch:
- conj() materializes the conjugate (torch's is a lazy view with is_conj() True); is_conj() / is_neg() are False,
  and resolve_conj / resolve_neg return the tensor itself. view_as_complex copies when its input's memory cannot be
  viewed as complex (torch refuses such input); view_as_real is a view, as torch's.
- complex32 (chalf) does not exist (NumPy has no complex of two float16): refused by name, also where torch's
  promotion would give it (a float16 tensor with a Python complex number).
- Casting complex to a real dtype discards the imaginary part without torch's warning.
- Ops on complex inputs that torch computes but tensorgrad does not raise instead, naming the op (among them
  linalg's lu / ldl / householder_product, triangular_solve, stft); ops/complex_more.py holds the
  complex forms of the norms, var/std, prod/cumprod, the inverse trigonometric functions, linear, the scatters and
  linalg's inv ... eigh (eig / eigvals: ops/linalg_eig.py). Ops that
  compute on the arrays past Function.apply (comparisons lt/le/gt/ge, argmax, sort, topk, unique, searchsorted,
  heaviside) refuse complex with util.refuse_complex, as torch refuses them;
  eq/ne, isnan/isinf/isfinite, isclose/allclose, nan_to_num, nonzero, count_nonzero take complex as torch does.
- A composite function written from ops that all take complex computes on complex even where torch's kernel
  refuses (F.mse_loss gives mean((a - b)^2), torch raises).
"""
import builtins

import numpy as np

from .. import dtypes
from ..autograd.function import Function, complex_handlers
from ..tensor import Tensor
from ..backend import xp_of
from . import elementwise as E
from . import elementwise_math as EM
from . import movement as M
from . import reduce as R
from . import indexing as I
from . import matmul as MM
from . import scan as S
from . import special as SP
from .util import unbroadcast
from .graph import sum_to, LinearMap


def _conj(a):
    return a.conj() if a is not None and a.dtype.kind == "c" else a


def _conj_t(t):
    return Conj.apply(t) if t is not None and t.dtype.kind == "c" else t


def _complex_of(a):
    return a.astype(dtypes.to_complex(a.dtype), copy=False)


# --------------------------------------------------------------------------- ops that hold as written
for _cls in (M.Reshape, M.Permute, M.Expand, M.Contiguous, M.GetItem, M.Cat, M.Tril, M.MaskedFill, M.Flip, M.Roll,
             E.Add, E.Sub, E.Neg, E.Where, E.ToDevice, R.Sum, R.Mean, I.Gather, I.Diagonal, I.DiagEmbed,
             I.ConstantPad, LinearMap):
    _cls.takes_complex = True


# --------------------------------------------------------------------------- holomorphic ops
def _holomorphic(base):
    """The complex twin of ``base``, whose backward (and backward_graph) is g * f'(z) in the real case: torch's
    convention conj(f'(z)) * g is the conjugate of that backward applied to conj(g)."""

    def backward(self, g):
        out = base.backward(self, _conj(g))
        return tuple(_conj(x) if hasattr(x, "dtype") else x for x in out) if isinstance(out, tuple) else _conj(out)

    def backward_graph(self, g):
        out = base.backward_graph(self, _conj_t(g))
        return (tuple(_conj_t(x) if isinstance(x, Tensor) else x for x in out) if isinstance(out, tuple)
                else _conj_t(out))

    cls = type("Complex" + base.__name__, (base,), {"takes_complex": True, "backward": backward,
                                                     "backward_graph": backward_graph, "__module__": __name__,
                                                     "__doc__": f"{base.__name__} on complex inputs."})
    complex_handlers[base] = cls.apply
    return cls


ComplexMul = _holomorphic(E.Mul)
ComplexDiv = _holomorphic(E.Div)
ComplexPow = _holomorphic(E.Pow)
ComplexExp = _holomorphic(E.Exp)
ComplexLog = _holomorphic(E.Log)
ComplexSqrt = _holomorphic(E.Sqrt)
ComplexReciprocal = _holomorphic(EM.Reciprocal)
ComplexSin = _holomorphic(EM.Sin)
ComplexCos = _holomorphic(EM.Cos)
ComplexTan = _holomorphic(SP.Tan)
ComplexSinh = _holomorphic(SP.Sinh)
ComplexCosh = _holomorphic(SP.Cosh)
ComplexTanh = _holomorphic(E.Tanh)
ComplexLog1p = _holomorphic(EM.Log1p)
ComplexExpm1 = _holomorphic(EM.Expm1)
ComplexLog2 = _holomorphic(EM.Log2)
ComplexLog10 = _holomorphic(EM.Log10)
ComplexRsqrt = _holomorphic(E.Rsqrt)


class ComplexSigmoid(_holomorphic(E.Sigmoid)):
    """sigmoid(z) = 1 / (1 + exp(-z)): the real op's sign split (no overflow of exp) needs an order complex numbers
    lack; its backward g * y * (1 - y) is analytic, so the twin's conjugated backward holds."""

    def forward(self, a):
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            out = 1 / (1 + xp_of(a).exp(-a))
        self.save_for_backward(out)
        return out


complex_handlers[E.Sigmoid] = ComplexSigmoid.apply
S.CumSum.takes_complex = True  # (linear: its backward multiplies by no derivative)


class ComplexMatMul(MM.MatMul):
    """matmul of complex operands: NumPy's matmul (the BLAS kernels are real-only); backward g @ b^H, a^H @ g."""
    takes_complex = True

    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.save_for_backward(a if nb else None, b if na else None)
        self.shapes = (a.shape, b.shape)
        return xp_of(a).matmul(a, b)

    def backward(self, g):
        sa, sb = self.shapes
        a, b = self.saved_tensors
        a2 = None if a is None else (a[None, :] if a.ndim == 1 else a).conj()
        b2 = None if b is None else (b[:, None] if b.ndim == 1 else b).conj()
        g2 = g.reshape(1, 1) if len(sa) == 1 and len(sb) == 1 else g[..., None, :] if len(sa) == 1 else \
            g[..., None] if len(sb) == 1 else g
        na, nb = self.needs_input_grad
        ga = unbroadcast(g2 @ b2.swapaxes(-1, -2), (1,) + sa if len(sa) == 1 else sa).reshape(sa) if na else None
        gb = unbroadcast(a2.swapaxes(-1, -2) @ g2, sb + (1,) if len(sb) == 1 else sb).reshape(sb) if nb else None
        return ga, gb

    def backward_graph(self, g):
        out = MM.MatMul.backward_graph(self, _conj_t(g))
        return tuple(_conj_t(x) for x in out)


complex_handlers[MM.MatMul] = ComplexMatMul.apply


# --------------------------------------------------------------------------- complex <-> real
class Conj(Function):
    takes_complex = True

    def forward(self, a):
        return a.conj()

    def backward(self, g):
        return g.conj()

    def backward_graph(self, g):
        return Conj.apply(g)


class Real(Function):
    """The real part, a view (torch's .real); the gradient of a real loss through it is real."""
    takes_complex = True

    def forward(self, a):
        return a.real

    def backward(self, g):
        return _complex_of(g)

    def backward_graph(self, g):
        return Complex.apply(g, Tensor._make(xp_of(g.array).zeros_like(g.array), None))


class Imag(Function):
    """The imaginary part, a view; its gradient g lands on the imaginary part: i g."""
    takes_complex = True

    def forward(self, a):
        return a.imag

    def backward(self, g):
        return _complex_of(g) * 1j

    def backward_graph(self, g):
        return Complex.apply(Tensor._make(xp_of(g.array).zeros_like(g.array), None), g)


class Complex(Function):
    """torch.complex(real, imag), broadcasting; each part's gradient is the matching part of g."""
    takes_complex = True

    def forward(self, re, im):
        xp = xp_of(re)
        shape = np.broadcast_shapes(re.shape, im.shape)
        out = xp.empty(shape, dtypes.to_complex(re.dtype, "complex"))
        out.real, out.imag = re, im
        self.shapes = (re.shape, im.shape)
        return out

    def backward(self, g):
        nr, ni = self.needs_input_grad
        return (unbroadcast(g.real, self.shapes[0]) if nr else None,
                unbroadcast(g.imag, self.shapes[1]) if ni else None)

    def backward_graph(self, g):
        nr, ni = self.needs_input_grad
        return (sum_to(Real.apply(g), self.shapes[0]) if nr else None,
                sum_to(Imag.apply(g), self.shapes[1]) if ni else None)


class ViewAsReal(Function):
    """(..., ) complex -> (..., 2) real sharing its memory."""
    takes_complex = True

    def forward(self, a):
        return a[..., None].view(dtypes.to_real(a.dtype))

    def backward(self, g):
        return g[..., 0] + 1j * g[..., 1]

    def backward_graph(self, g):
        return ViewAsComplex.apply(g)


class ViewAsComplex(Function):
    """(..., 2) real -> (...) complex: a view of the memory where its last dim is contiguous, else a copy."""

    def forward(self, a):
        cdt = dtypes.to_complex(a.dtype, "view_as_complex")
        if a.strides[-1] == a.itemsize and all(s % (2 * a.itemsize) == 0 for s in a.strides[:-1]):
            return a.view(cdt)[..., 0]
        out = xp_of(a).empty(a.shape[:-1], cdt)
        out.real, out.imag = a[..., 0], a[..., 1]
        return out

    def backward(self, g):
        return np.stack([g.real, g.imag], -1) if isinstance(g, np.ndarray) else xp_of(g).stack([g.real, g.imag], -1)

    def backward_graph(self, g):
        return ViewAsReal.apply(g)


class ComplexCast(Function):
    """.to(dtype) of a complex tensor: to another complex dtype, or to a real one keeping the real part (torch
    warns there; tensorgrad does not). The gradient goes back in the input's dtype. Ops never cast their input to a
    real dtype this way: an integer input becomes a float through util.to_float, which keeps a complex one complex
    (for the op to compute on, or for Function.apply to refuse by name)."""
    takes_complex = True

    def forward(self, a, dtype):
        self.in_dtype = a.dtype
        return a.astype(dtype) if dtype.kind == "c" else a.real.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype), None

    def backward_graph(self, g):
        return g.to(self.in_dtype), None


complex_handlers[E.Cast] = ComplexCast.apply


class ComplexAbs(Function):
    """|z|, real; its gradient g * sgn(z) (0 at z = 0, as torch)."""
    takes_complex = True

    def forward(self, a):
        self.save_for_backward(a)
        return xp_of(a).abs(a)

    def backward(self, g):
        a = self.saved_tensors[0]
        return g * _sgn(a)

    def backward_graph(self, g):
        return g * sgn(self.input(0, self.saved_tensors[0]))


complex_handlers[E.Abs] = ComplexAbs.apply


class Angle(Function):
    """arg z, real; its gradient g * i z / |z|^2 (0 at z = 0, as torch)."""
    takes_complex = True

    def forward(self, a):
        self.save_for_backward(a)
        return xp_of(a).angle(a).astype(dtypes.to_real(a.dtype), copy=False)

    def backward(self, g):
        a = self.saved_tensors[0]
        n = (a.real ** 2 + a.imag ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = g * (1j * a) / n
        return xp_of(a).where(n == 0, 0, out).astype(a.dtype, copy=False)

    def backward_graph(self, g):
        z = self.input(0, self.saved_tensors[0])
        n = Real.apply(z * Conj.apply(z))
        safe = E.where(n == 0, 1, n)
        return E.where(n == 0, 0, g * (z * 1j) / safe)


def _sgn(a):
    xp = xp_of(a)
    m = xp.abs(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(m == 0, 0, a / m).astype(a.dtype, copy=False)


# --------------------------------------------------------------------------- public functions
def _check(op, t):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(t).__name__}")


def conj(input):
    """The complex conjugate (a real tensor is returned as it is, as torch)."""
    _check("conj", input)
    return Conj.apply(input) if input.dtype.kind == "c" else input


def conj_physical(input):
    _check("conj_physical", input)
    return Conj.apply(input) if input.dtype.kind == "c" else input.clone()


def resolve_conj(input):
    return input


def resolve_neg(input):
    return input


def is_conj(input):
    return False


def is_neg(input):
    return False


def real(input):
    _check("real", input)
    return Real.apply(input) if input.dtype.kind == "c" else input


def imag(input):
    _check("imag", input)
    if input.dtype.kind != "c":
        raise RuntimeError(f"imag is not implemented for tensors with non-complex dtypes (got {input.dtype}, shape "
                           f"{tuple(input.shape)})")
    return Imag.apply(input)


def complex(real, imag):
    if not (isinstance(real, Tensor) and isinstance(imag, Tensor)):
        raise TypeError("complex: expected real and imag Tensors, got "
                        f"{type(real).__name__} and {type(imag).__name__}")
    if real.dtype != imag.dtype or real.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"complex: expected real and imag of one dtype, float32 or float64; got {real.dtype} and "
                           f"{imag.dtype}")
    return Complex.apply(real, imag)


def polar(abs, angle):
    """abs * (cos(angle) + i sin(angle)), from differentiable real ops."""
    if abs.dtype != angle.dtype or abs.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"polar: expected abs and angle of one dtype, float32 or float64; got {abs.dtype} and "
                           f"{angle.dtype}")
    return Complex.apply(abs * angle.cos(), abs * angle.sin())


def view_as_real(input):
    _check("view_as_real", input)
    if input.dtype.kind != "c":
        raise RuntimeError(f"view_as_real is only supported for complex tensors, got {input.dtype}")
    return ViewAsReal.apply(input)


def view_as_complex(input):
    _check("view_as_complex", input)
    if input.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"view_as_complex is only supported for float32 and float64 tensors, got {input.dtype}")
    if input.ndim == 0 or input.shape[-1] != 2:
        raise RuntimeError(f"view_as_complex: tensor must have a last dimension of size 2, got shape "
                           f"{tuple(input.shape)}")
    return ViewAsComplex.apply(input)


def angle(input):
    """arg z of a complex tensor; for a real one torch's 0 or pi (nan kept), which has a zero gradient."""
    _check("angle", input)
    if input.dtype.kind == "c":
        return Angle.apply(input)
    a = input.array
    xp = xp_of(a)
    dt = a.dtype if dtypes.is_float(a.dtype) else dtypes.get_default_dtype()
    out = Tensor._make(xp.where(xp.isnan(a), a, xp.where(a < 0, np.pi, 0)).astype(dt), None)
    if not input.requires_grad:
        return out
    # (a result on the graph whose gradient is zero everywhere, as torch's)
    return E.where(Tensor._make(xp.ones(a.shape, bool), None), out, input)


def sgn(input):
    """z / |z| (0 at 0); sign for real tensors."""
    _check("sgn", input)
    if input.dtype.kind != "c":
        return input.sign()
    m = ComplexAbs.apply(input)
    zero = (m == 0).detach()
    return E.where(zero, 0, input / E.where(zero, 1, m))


def vdot(a, b):
    """sum(conj(a) * b) of two 1-D tensors."""
    if a.dtype.kind != "c" and b.dtype.kind != "c":
        return MM.dot(a, b)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise RuntimeError(f"vdot: expected two 1-D tensors of one size, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    if a.dtype != b.dtype:
        raise RuntimeError(f"vdot: expected both vectors to have the same dtype, got {a.dtype} and {b.dtype}")
    return MM.matmul(conj(a), b)


def adjoint(input):
    """The conjugate transpose of the last two dims (torch's .mH / .adjoint())."""
    if input.ndim < 2:
        raise RuntimeError(f"adjoint: tensor must have at least 2 dimensions, got shape {tuple(input.shape)}")
    return conj(input.transpose(-2, -1))


def _H(self):
    if self.ndim not in (0, 2):
        raise RuntimeError(f"tensor.H is only supported on matrices (2-D tensors), got a {self.ndim}-D tensor")
    return conj(self.transpose(0, 1)) if self.ndim == 2 else conj(self)


FUNCTIONS = {"conj": conj, "conj_physical": conj_physical, "resolve_conj": resolve_conj, "resolve_neg": resolve_neg,
             "is_conj": is_conj, "is_neg": is_neg, "real": real, "imag": imag, "complex": complex, "polar": polar,
             "view_as_real": view_as_real, "view_as_complex": view_as_complex, "angle": angle, "sgn": sgn,
             "vdot": vdot, "adjoint": adjoint}


def install():
    """Tensor's complex methods and properties (called once by ops/methods.py's installer)."""
    for name in ("conj", "conj_physical", "resolve_conj", "resolve_neg", "is_conj", "is_neg", "angle", "sgn",
                 "adjoint"):
        setattr(Tensor, name, FUNCTIONS[name])
    Tensor.real = property(real)
    Tensor.imag = property(imag)
    Tensor.H = property(_H)
    Tensor.mH = property(adjoint)
    Tensor.vdot = vdot
    Tensor.__complex__ = lambda self: builtins.complex(self.item())


install()
