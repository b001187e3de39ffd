"""torch.compiler's (and torch._dynamo's) switches, for code that marks what a graph compiler may or may not trace:
tensorgrad runs eagerly (tensorgrad.compile returns its argument), so every marker gives back what it is given and
every query says "not compiling", which is the branch such code takes outside torch.compile. Libraries probe these
at import (einops registers its ops with allow_in_graph; x-transformers and others wrap helpers in
torch.compiler.disable), and scripts set torch._dynamo.config knobs (compiler/config.py) before training.

Under the alias (tensorgrad.compat) this module is both torch.compiler and torch._dynamo.
"""
from . import config  # noqa: F401  (torch._dynamo.config / torch.compiler.config)

__all__ = ["disable", "allow_in_graph", "assume_constant_result", "is_compiling", "is_dynamo_compiling",
           "is_exporting", "reset", "cudagraph_mark_step_begin", "mark_dynamic", "mark_static",
           "maybe_mark_dynamic", "mark_static_address", "substitute_in_graph"]


def _marker(fn=None, **options):
    # both forms: @disable and @disable(recursive=False); the function itself comes back, as nothing traces it
    if fn is None:
        return lambda f: f
    return fn


disable = _marker


def allow_in_graph(fn):
    return fn


def assume_constant_result(fn):
    return fn


def substitute_in_graph(original_fn, **options):
    return lambda fn: fn


def is_compiling():
    return False


is_dynamo_compiling = is_exporting = is_compiling


def reset():
    """Drop compiled graphs: there are none."""


def cudagraph_mark_step_begin():
    """torch's marker between steps of a cudagraph-compiled model: tensorgrad's graphs (tensorgrad.cuda.graph)
    are captured and replayed explicitly, so there is no step to mark."""


def _hint(t, *args, **kwargs):
    # shape hints for the tracer (which dims vary between calls): nothing is traced, so nothing to record
    return None


mark_dynamic = mark_static = maybe_mark_dynamic = mark_static_address = _hint
