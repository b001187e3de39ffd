"""Gradient checkpointing: keep a segment's inputs, drop its activations, recompute them in backward.

``checkpoint(fn, *xs)`` is itself a Function (Chainer's habit): its forward runs ``fn`` under no_grad and
saves only the inputs plus the RNG and autocast state; its backward replays ``fn`` with the same RNG
state (identical dropout masks) and autocast state, and backpropagates through the replay. Gradients of
parameters used inside ``fn`` accumulate into their .grad during that inner backward.

``Checkpointed(block)`` is the same applied to a module from outside the model: put in the block's place (in an
nn.Sequential / nn.ModuleList), it runs the block under ``checkpoint`` and keeps the block's parameter names, so
a model's forward stays a plain loop over its blocks and its state_dict keys do not change. tensorgrad.planner
wraps blocks with it per policy (none, all, sqrt, every=K, a byte budget).
"""
from .autograd.function import Function
from .autograd.grad_mode import no_grad, enable_grad, is_grad_enabled
from .autograd import engine
from .amp.autocast import autocast as _autocast, get_state as _autocast_state
from .factories import zeros
from .nn.module import Module
from .tensor import Tensor
from . import random as _random


class Checkpoint(Function):
    def forward(self, *arrays, fn, preserve_rng_state, n_real):
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
    if not is_grad_enabled():
        return fn(*inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"checkpoint: input {i} must be a Tensor, got {type(x).__name__} "
                            "(bind other arguments with functools.partial or a lambda)")
    args = list(inputs)
    if not any(x.requires_grad for x in inputs):
        # The node must be recorded even when no input needs grad, so parameters inside fn get gradients.
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


class Checkpointed(Module):
    """``module`` run under ``checkpoint``: in forward it keeps only its input, in backward it recomputes.

    Put in the module's place, e.g. ``blocks[i] = Checkpointed(blocks[i])``. Names do not change: the wrapper holds
    the wrapped module's own parameter, buffer and child dicts (it adds no level), so ``parameters()``,
    ``state_dict()`` keys and ``load_state_dict()`` are exactly those of the module it stands for, and checkpoints
    saved with or without checkpointing load into either. ``.module`` is the wrapped module.

    ``segment``: one checkpoint over a run of consecutive modules (the policies every=K and sqrt), given to the
    wrapper of each of them (``module`` among them). The wrapper of the run's first module runs the whole run
    under one checkpoint (only the run's input is kept); the others pass their input through, since their
    module already ran inside it. Call them in order, as a loop over the blocks does.
    """

    def __init__(self, module, segment=None, preserve_rng_state=True):
        super().__init__()
        if isinstance(module, Checkpointed):
            raise TypeError("Checkpointed: the module is already checkpointed (unwrap it with .module first)")
        if not isinstance(module, Module):
            raise TypeError(f"Checkpointed: expected an nn.Module, got {type(module).__name__}")
        segment = (module,) if segment is None else tuple(segment)
        if not any(m is module for m in segment):
            raise ValueError("Checkpointed: the segment must contain the module")
        d = self.__dict__
        for k in ("_parameters", "_buffers", "_non_persistent_buffers", "_modules"):
            d[k] = module.__dict__[k]
        # Plain attributes, not children: a child would add a level ('.module.') to every parameter name.
        d["module"] = module
        d["segment"] = segment
        d["preserve_rng_state"] = preserve_rng_state
        d["training"] = module.training

    def forward(self, *xs):
        if self.segment[0] is not self.module:
            if len(xs) != 1:
                raise TypeError(f"Checkpointed: a block inside a segment passes one input through, got {len(xs)}")
            return xs[0]
        # model.train(mode) reaches the wrapper and the children it shares, not the wrapped modules themselves.
        for m in self.segment:
            m.training = self.training
        fn = self.module if len(self.segment) == 1 else chain(self.segment)
        return checkpoint(fn, *xs, preserve_rng_state=self.preserve_rng_state)

    def __repr__(self):
        where = ""
        if len(self.segment) > 1:
            first = self.segment[0] is self.module
            where = f", segment of {len(self.segment)}, " + ("runs it" if first else "runs in the first one")
        return f"Checkpointed({self.module!r}{where})"
