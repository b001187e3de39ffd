"""Gradient checkpointing: keep a segment's inputs, drop its activations, recompute them in backward.

``checkpoint(fn, *xs)`` is itself a Function (Chainer's habit): its forward runs ``fn`` under no_grad and
saves only the inputs plus the RNG and autocast state; its backward replays ``fn`` with the same RNG
state (identical dropout masks) and autocast state, and backpropagates through the replay. Gradients of
parameters used inside ``fn`` accumulate into their .grad during that inner backward.
"""
from .autograd.function import Function
from .autograd.grad_mode import no_grad, enable_grad, is_grad_enabled
from .autograd import engine
from .amp.autocast import autocast as _autocast, get_state as _autocast_state
from . import random as _random


class Checkpoint(Function):
    def forward(self, *arrays, fn, preserve_rng_state, n_real):
        from .tensor import Tensor
        self.fn = fn
        self.n_real = n_real
        self.rng_state = _random.default_generator.get_state() if preserve_rng_state else None
        self.autocast_state = _autocast_state()
        self.save_for_backward(*arrays)
        with no_grad():
            out = fn(*[Tensor._make(a, None) for a in arrays[:n_real]])
        if not isinstance(out, Tensor):
            raise TypeError(f"checkpoint: the function must return a single Tensor, got {type(out).__name__}")
        return out.array

    def backward(self, g):
        from .tensor import Tensor
        arrays = self.saved_tensors
        inputs = []
        for a, need in zip(arrays[:self.n_real], self.needs_input_grad):
            t = Tensor._make(a, None)
            if need:
                t.requires_grad = True
            inputs.append(t)
        gen = _random.default_generator
        current = gen.get_state() if self.rng_state is not None else None
        if self.rng_state is not None:
            gen.set_state(self.rng_state)
        enabled, dtype = self.autocast_state
        try:
            with enable_grad(), _autocast(dtype=dtype or "float16", enabled=enabled):
                out = self.fn(*inputs)
        finally:
            if current is not None:
                gen.set_state(current)
        if out.requires_grad:
            engine.run_backward([out], [g])
        grads = tuple(t.grad.array if (t.requires_grad and t.grad is not None) else None for t in inputs)
        return grads + (None,) * (len(arrays) - self.n_real)


def checkpoint(fn, *inputs, preserve_rng_state=True, use_reentrant=None):
    """Run ``fn(*inputs)`` keeping only ``inputs`` for backward; recompute the rest when gradients are needed."""
    from .tensor import Tensor
    if not is_grad_enabled():
        return fn(*inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"checkpoint: input {i} must be a Tensor, got {type(x).__name__} "
                            "(bind other arguments with functools.partial or a lambda)")
    args = list(inputs)
    if not any(x.requires_grad for x in inputs):
        # The node must be recorded even when no input needs grad, so parameters inside fn get gradients.
        from .factories import zeros
        args.append(zeros((), requires_grad=True))
    return Checkpoint.apply(*args, fn=fn, preserve_rng_state=preserve_rng_state, n_real=len(inputs))


def checkpoint_sequential(functions, segments, input, preserve_rng_state=True):
    """Split ``functions`` (a list or Sequential) into ``segments`` runs; checkpoint all but the last."""
    fns = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be >= 1, got {segments}")
    size = -(-len(fns) // segments)
    chunks = [fns[i:i + size] for i in range(0, len(fns), size)]

    x = input
    for chunk in chunks[:-1]:
        x = checkpoint(chain(chunk), x, preserve_rng_state=preserve_rng_state)
    return chain(chunks[-1])(x) if chunks else x


def chain(modules):
    """One function applying ``modules`` in order: a segment to checkpoint."""
    def f(x):
        for m in modules:
            x = m(x)
        return x
    return f
