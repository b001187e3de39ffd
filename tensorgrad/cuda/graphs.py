"""CUDA graph capture over CuPy stream capture: record a whole training step once, replay it with one launch.

Why: a small GPT step is ~1,000 kernel launches, each costing Python + CuPy + driver time (tens of µs) while
the kernels themselves are short, so the GPU idles between them. A captured graph replays all of them with
one launch.

What a replay assumes (the same rules as torch.cuda.graphs):
  * Every buffer the step reads or writes sits at a fixed address. Inputs are copied into static tensors
    before each replay (GraphedStep does that); outputs (the loss, the grads) are the same arrays each time.
  * Memory allocated during capture comes from a private CuPy memory pool that lives as long as the graph:
    the addresses baked into the graph must never be handed to anyone else.
  * No host synchronisation inside the step (no .item(), no bool(tensor), no numpy round trip): those
    raise during capture. Values that change between steps (learning rate, Adam's step count, the loss
    scale) live in device memory: AdamW(capturable=True) and the GradScaler's device state do that.
  * Random draws (dropout, attention dropout, randn...) come from the default generator, or from generators
    passed to register_generator_state: while capturing, their kernels read (seed, offset) from a device array
    that each replay's prologue rewrites from the Generator, which then advances by what the step drew. So every
    replay draws fresh masks, the ones an eager step would draw from the Generator's state at that replay.
"""
import contextlib

from ..backend import cupy as _get_cupy
from ..backend import capture as _capture_state
from ..tensor import Tensor
from ..backend.capture import is_capturing, keep_alive  # noqa: F401  (tensorgrad.cuda re-exports them)
from ..random import Generator, default_generator

def _cp():
    cp = _get_cupy()
    if cp is None:
        raise RuntimeError("tensorgrad.cuda.graphs: needs CuPy and a CUDA GPU")
    return cp


class CUDAGraph:
    """One captured CUDA graph with its private memory pool.

        g = CUDAGraph()
        with g.capture():
            ...                      # kernels are recorded, not run
        g.replay()                   # runs them all, on the current stream
    """

    def __init__(self):
        self._graph = None
        self._pool = None
        self._keep = []
        self._generators = [default_generator]
        self._rng = []            # (generator, device state, offsets one replay consumes), set by capture

    def register_generator_state(self, generator):
        """Let the captured step draw from ``generator`` too (the default generator always is); call before
        capture(), as torch.cuda.CUDAGraph.register_generator_state."""
        if not isinstance(generator, Generator):
            raise TypeError(f"CUDAGraph.register_generator_state: expected a tensorgrad Generator, got "
                            f"{type(generator).__name__}")
        if self._graph is not None:
            raise RuntimeError("CUDAGraph.register_generator_state: the graph was already captured")
        if all(g is not generator for g in self._generators):
            self._generators.append(generator)

    @contextlib.contextmanager
    def capture(self):
        cp = _cp()
        if self._graph is not None:
            raise RuntimeError("CUDAGraph.capture: this graph was already captured; make a new CUDAGraph")
        self._pool = cp.cuda.MemoryPool()
        stream = cp.cuda.Stream(non_blocking=True)
        gens = []
        try:
            for gen in self._generators:      # their device states are allocated outside the graph's pool
                gen._capture_begin(cp)
                gens.append(gen)
        except BaseException:
            for gen in gens:
                gen._capture_end()
            raise
        # Work queued before the capture (parameter init, the warm-up steps) must be finished: the capture
        # stream does not wait for the default stream.
        cp.cuda.Device().synchronize()
        _capture_state.begin(self)
        try:
            with stream, cp.cuda.using_allocator(self._pool.malloc):
                stream.begin_capture()
                try:
                    yield self
                except BaseException:
                    # End the (now useless) capture so the stream is usable again; the body's error is the
                    # one worth reporting, not the invalidated-capture error this may raise.
                    try:
                        stream.end_capture()
                    except Exception:
                        pass
                    raise
                try:
                    graph = stream.end_capture()
                except Exception as e:
                    raise RuntimeError(
                        "CUDAGraph.capture: the capture was invalidated, usually by a host synchronisation inside the "
                        "captured code (.item(), bool()/float() of a cuda tensor, a copy to the host) or by work "
                        f"on another stream; CUDA said: {e}") from e
        finally:
            _capture_state.end()
            rng = [(gen,) + gen._capture_end() for gen in gens]
        self._rng = [r for r in rng if r[2]]   # generators the step actually drew from
        self._graph = graph
        self._stream = stream
        if hasattr(graph, "upload"):
            graph.upload(stream)
        stream.synchronize()

    def replay(self):
        if self._graph is None:
            raise RuntimeError("CUDAGraph.replay: nothing captured yet")
        cp = _cp()
        for gen, state, consumed in self._rng:
            gen._replay_prologue(cp, state, consumed)
        self._graph.launch(stream=cp.cuda.get_current_stream())

    def pool_bytes(self):
        """Device memory held by the graph's private pool (its activations and temporaries)."""
        return 0 if self._pool is None else self._pool.total_bytes()


def graph(cuda_graph):
    """``with tensorgrad.cuda.graph(g): ...`` is ``with g.capture(): ...`` (PyTorch's spelling)."""
    return cuda_graph.capture()


class GraphedStep:
    """A training step captured once and replayed on new inputs.

        def step(x, y):
            with autocast():                         # optional
                _, loss = model(x, y)
            scaler.scale(loss).backward()            # or loss.backward()
            scaler.unscale_(opt); clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(opt); scaler.update()
            return loss
        train_step = GraphedStep(step, x0, y0, optimizers=[opt], warmup=3)
        loss = train_step(x, y)                      # copies x, y in, replays; loss is the same tensor each time

    ``step`` runs ``warmup`` times eagerly on (x0, y0) (which compiles kernels, creates the optimizer state and
    cuBLAS handles), then once under capture. The grads are left as the step leaves them: the captured step
    must set them itself (zero_grad(set_to_none=True) first, or let backward create them), as replays do not
    run Python. Optimizers must be capturable (AdamW(capturable=True)); before every replay their device-side
    learning rate and step count are advanced from their param_groups, so lr schedules keep working.
    """

    def __init__(self, step, *example_inputs, optimizers=(), warmup=3):
        for i, x in enumerate(example_inputs):
            if not isinstance(x, Tensor) or x.device.type != "cuda":
                raise TypeError(f"GraphedStep: example input {i} must be a cuda Tensor, got "
                                f"{type(x).__name__}" + (f" on {x.device}" if isinstance(x, Tensor) else ""))
        for opt in optimizers:
            if not getattr(opt, "capturable", False):
                raise TypeError(f"GraphedStep: optimizer {type(opt).__name__} is not capturable: its step reads "
                                "the learning rate and step count on the host, so a replay would repeat the first "
                                "step; construct it with capturable=True")
        self._step, self._optimizers = step, list(optimizers)
        self.static_inputs = tuple(Tensor._make(x.array.copy(), None) for x in example_inputs)
        for _ in range(int(warmup)):
            step(*self.static_inputs)
        self.graph = CUDAGraph()
        with self.graph.capture():      # records only: the first replay is the first real step after warm-up
            self.static_output = step(*self.static_inputs)

    def __call__(self, *inputs):
        if len(inputs) != len(self.static_inputs):
            raise TypeError(f"GraphedStep: expected {len(self.static_inputs)} inputs, got {len(inputs)}")
        for i, (dst, src) in enumerate(zip(self.static_inputs, inputs)):
            data = src.array if isinstance(src, Tensor) else src
            if tuple(data.shape) != tuple(dst.shape) or data.dtype != dst.dtype:
                raise ValueError(f"GraphedStep: input {i} has shape {tuple(data.shape)} and dtype {data.dtype}, but "
                                 f"the step was captured for shape {tuple(dst.shape)} and dtype {dst.dtype}")
            dst.array[...] = data
        for opt in self._optimizers:
            opt._capturable_advance()
        self.graph.replay()
        return self.static_output
