"""torch.func.vmap as a loop over the batch: func runs once per sample, on the inputs' slices along their in_dims
(views, through Tensor.select), and each output is the stack of the per-sample outputs along its out_dim.

Why a loop and no batched fast path: running func once on the whole batch is right only when func treats the batch
dimension as a batch (no reduction, reshape or matmul that mixes it in), which cannot be decided for an arbitrary
function, so there is no such path. The loop is right for every op: select and stack are ordinary recorded ops, so
gradients flow from the stacked outputs to the batched inputs and vmap nests with itself and with grad / jacrev /
jvp (per-sample gradients are vmap(grad(loss), in_dims=(None, 0, 0))). Its price is Python: func's own per-call
cost once per sample, plus 20-30 microseconds per sample of vmap's own (see vmap's docstring).

What the loop lets through that torch refuses: per-sample Python (``.item()``, ``if x.sum() > 0``, data-dependent
shapes as long as every sample gives the same shape) runs, where torch's batched tensors raise."""
import functools

from ..ops.movement import stack
from ..random import default_generator
from ..tensor import Tensor
from ..backend import xp_of
from . import _pytree as P

_RANDOMNESS = ("error", "different", "same")
_RANDOM_ERROR = ("vmap: called random operation while in randomness error mode. Please either use the 'same' or "
                 "'different' randomness flags on vmap or perform the randomness operation out of vmap")


def _name(func):
    if hasattr(func, "__name__"):
        return func.__name__
    if isinstance(func, functools.partial):
        return f"functools.partial({_name(func.func)}, ...)"
    return repr(func)


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """torch.func.vmap: ``vmap(f, in_dims, out_dims)(*args, **kwargs)`` maps f over a dimension of its inputs.

    in_dims: an int (every positional argument's tensors are batched along it), or a tuple with one entry per
    positional argument, each an int, None (not batched: passed whole to every call) or a nested tuple / list / dict
    matching that argument's structure. Negative dims count from the end. Keyword arguments are never batched.
    out_dims: an int, None (the output is the same for every sample and is returned as it is) or a structure
    matching func's outputs. randomness: 'error' raises when func draws from the default generator; 'same' gives
    every sample the same draws (each call starts from the generator state vmap was called with); 'different'
    lets each sample draw its own numbers (torch draws one batched tensor instead, so the values differ from
    torch's with the same seed). Draws from a Generator passed explicitly are not seen by 'error' and not repeated
    by 'same' (only the default generator's state is watched: comparing it costs about 2 us per sample), and an
    in-place draw into an unbatched tensor under 'different' is not refused as torch refuses it. chunk_size is
    accepted for torch's signature: the loop already holds one sample's work at a time.

    Cost: one Python call of func per sample, then one stack per output. Measured on the CPU (2 shared, loaded
    cores, float32, batch 16-64): tensorgrad.sin on one (64,) sample takes 5 us; vmap(tensorgrad.sin) takes 25-33
    us per sample, so vmap's select + stack + bookkeeping is 20-30 us per sample and output. For per-sample
    gradients of a 16-32-4 MLP, vmap(grad(loss)) costs about 10% more per sample than grad(loss) on one sample
    (1.66 against 1.49 ms): grad's recorded backward dominates. torch's batching rules run the whole batch in one
    call instead.

    A size-0 batch runs func once on a zero-filled sample to learn the output shapes (torch runs it on the empty
    batch), so a func that cannot run on zeros fails there. out_dims=None checks that a tensor output has the same
    value for every sample (torch checks that it does not depend on the batch, which a loop cannot see: an output
    that depends on the batch but happens to be equal, or any output of a size-1 batch, passes here)."""
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError(f"vmap: chunk_size should be None or greater than 0. (got {chunk_size})")

    @functools.wraps(func)
    def wrapped(*args, **kwargs):
        return _call(func, in_dims, out_dims, randomness, args, kwargs)
    return wrapped


def _call(func, in_dims, out_dims, randomness, args, kwargs):
    name = _name(func)
    _check_out_dims(name, out_dims)
    leaves, spec, dims, size = _batched_inputs(name, in_dims, args)
    gen = default_generator
    start = gen.get_state()
    results = []
    if size == 0:
        sample = [x if d is None else _zero_sample(x, d) for x, d in zip(leaves, dims)]
        results.append(_run(func, sample, spec, kwargs, randomness, start))
        if randomness != "error":
            gen.set_state(start)  # an empty batch draws nothing
    for b in range(size):
        if randomness == "same" and b:
            gen.set_state(start)
        sample = [x if d is None else x.select(d, b) for x, d in zip(leaves, dims)]
        results.append(_run(func, sample, spec, kwargs, randomness, start))
    return _outputs(name, out_dims, results, size)


def _run(func, sample, spec, kwargs, randomness, start):
    out = func(*P.unflatten(sample, spec), **kwargs)
    if randomness == "error" and default_generator.get_state() != start:
        default_generator.set_state(start)  # torch raises before drawing: leave the generator as it was
        raise RuntimeError(_RANDOM_ERROR)
    return out


def _zero_sample(x, d):
    """A stand-in for one sample of x (batched along d, of size 0): zeros, on the graph of x when x needs grad."""
    shape = x.shape[:d] + x.shape[d + 1:]
    return x.narrow(d, 0, 0).sum(d) if x.requires_grad else x.new_zeros(shape)


def _batched_inputs(name, in_dims, args):
    """(leaves of args, their spec, each leaf's in_dim made non-negative or None, the batch size), checked as torch
    checks them and with its messages."""
    head = f"vmap({name}, in_dims={in_dims}, ...)(<inputs>): "
    if not isinstance(in_dims, (int, tuple)):
        raise ValueError(f"{head}expected `in_dims` to be int or a (potentially nested) tuple matching the structure "
                         f"of inputs, got: {type(in_dims)}.")
    if not args:
        raise ValueError(f"vmap({name})(<inputs>): got no inputs. Maybe you forgot to add inputs, or you are trying "
                         "to vmap over a function with no inputs. The latter is unsupported.")
    leaves, spec = P.flatten(args)
    dims = P.broadcast_prefix(in_dims, spec)
    if dims is None:
        raise ValueError(f"{head}in_dims is not compatible with the structure of `inputs`. in_dims has structure "
                         f"{P.spec_repr(P.flatten(in_dims)[1])} but inputs has structure {P.spec_repr(spec)}.")
    sizes, out = [], []
    for x, d in zip(leaves, dims):
        if d is None:
            out.append(None)
            continue
        if isinstance(d, bool):
            raise TypeError(f"{head}Got in_dim={d} for an input, a bool: in_dim must be an integer dimension or None")
        if not isinstance(d, int):
            raise ValueError(f"{head}Got in_dim={d} for an input but in_dim must be either an integer dimension or "
                             "None.")
        if not isinstance(x, Tensor):
            raise ValueError(f"{head}Got in_dim={d} for an input but the input is of type {type(x)}. We cannot vmap "
                             "over non-Tensor arguments, please use None as the respective in_dim")
        n = x.dim()
        if not -n <= d < n:
            raise ValueError(f"{head}Got in_dim={d} for some input, but that input is a Tensor of dimensionality {n} "
                             f"so expected in_dim to satisfy -{n} <= in_dim < {n}.")
        d %= n
        out.append(d)
        sizes.append(x.shape[d])
    if not sizes:
        raise ValueError("vmap: Expected at least one Tensor to vmap over")
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"vmap: Expected all tensors to have the same size in the mapped dimension, got sizes "
                         f"{sizes} for the mapped dimension")
    return leaves, spec, out, sizes[0]


def _check_out_dims(name, out_dims):
    if isinstance(out_dims, int):
        return
    if not all(d is None or isinstance(d, int) for d in P.flatten(out_dims)[0]):
        raise ValueError(f"vmap({name}, ..., out_dims={out_dims}): `out_dims` must be an int, None or a python "
                         "collection of ints representing where in the outputs the vmapped dimension should appear.")


def _out_dims_per_leaf(name, out_dims, spec):
    if spec.is_leaf():  # one output: torch also takes a 1-tuple
        if out_dims is None or isinstance(out_dims, int):
            return [out_dims]
        if isinstance(out_dims, tuple) and len(out_dims) == 1:
            return list(out_dims)
        flat = None
    else:
        flat = P.broadcast_prefix(out_dims, spec)
    if flat is None:
        raise ValueError(f"vmap({name}, ..., out_dims={out_dims})(<inputs>): out_dims is not compatible with the "
                         f"structure of `outputs`. out_dims has structure {P.spec_repr(P.flatten(out_dims)[1])} but "
                         f"outputs has structure {P.spec_repr(spec)}.")
    return flat


def _same(a, b):
    if a is b:
        return True
    if not isinstance(b, Tensor) or a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
        return False
    xp = xp_of(a.array)
    return bool(xp.array_equal(a.array, b.array, equal_nan=a.array.dtype.kind in "fc"))


def _outputs(name, out_dims, results, size):
    flat = [P.flatten(r) for r in results]
    spec = flat[0][1]
    for _, s in flat[1:]:
        if s != spec:
            raise ValueError(f"vmap({name}, ...): `{name}` returned outputs of different structures for different "
                             f"samples ({P.spec_repr(spec)} and {P.spec_repr(s)}); vmap needs one structure")
    dims = _out_dims_per_leaf(name, out_dims, spec)
    outs = []
    for i, d in enumerate(dims):
        vals = [f[0][i] for f in flat]
        first = vals[0]
        if d is None:
            if isinstance(first, Tensor) and not all(_same(first, v) for v in vals[1:]):
                raise ValueError(f"vmap({name}, ...): `{name}` can not return a BatchedTensor when out_dim is None")
            outs.append(first)
            continue
        for v in vals:
            if not isinstance(v, Tensor):
                raise ValueError(f"vmap({name}, ...): `{name}` must only return Tensors, got type {type(v)}. Did you "
                                 "mean to set out_dims= to None for output?")
        n = first.dim()
        if not -(n + 1) <= d <= n:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-(n + 1)}, {n}], but got {d})")
        for v in vals[1:]:
            if v.shape != first.shape or v.dtype != first.dtype:
                raise ValueError(f"vmap({name}, ...): `{name}` returned tensors of different shapes or dtypes for "
                                 f"different samples ({tuple(first.shape)} {first.dtype} and {tuple(v.shape)} "
                                 f"{v.dtype}); a batched output needs one shape and dtype for every sample")
        d %= n + 1
        outs.append(first.unsqueeze(d).narrow(d, 0, 0) if size == 0 else stack(vals, dim=d))
    return P.unflatten(outs, spec)


__all__ = ["vmap"]
