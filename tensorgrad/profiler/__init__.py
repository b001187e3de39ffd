"""Profiling: memory accounting with a timeline (``memory()``), reports and plots (``report``).

    with tensorgrad.profiler.memory(model) as prof:
        loss = model(x, y)[1]; loss.backward()
    print(prof.peak_bytes, prof.peak_saved_bytes); print(prof.report(depth=3))
"""
from .memory import MemoryProfiler, Row, memory
from .report import fmt_bytes, format_report

__all__ = ["memory", "MemoryProfiler", "Row", "fmt_bytes", "format_report"]
