"""torch.profiler's API on tensorgrad (``torch.profiler`` under the alias of tensorgrad.compat).

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True,
                 schedule=schedule(wait=1, warmup=1, active=3), on_trace_ready=tensorboard_trace_handler("log")) as prof:
        for step in range(8):
            with record_function("train_step"):
                loss = model(x).sum(); loss.backward()
            prof.step()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")

What is measured, and how. While a trace is being recorded (not during wait or warmup steps) the profiler hangs on
tensorgrad's op hooks and removes itself afterwards, so that nothing is paid when no profiler records:
- every op's forward: ``Function.__init__`` is set (only while recording) to stamp the moment the op's ``apply``
  builds its ctx, and the ``_forward_hooks`` entry (called after the forward) closes the interval; ops called inside
  another op's forward nest inside it.
- every node's backward: the engine's ``_node_hooks`` "pre"/"post" around it.
- ``record_function`` ranges, and ``ProfilerStep#N`` per step when a schedule is given (as torch).
Times are wall-clock (``time.perf_counter_ns``) in microseconds; self time is an event's time less the time of the
events directly nested in it on the same thread.

Differences from torch:
- Event names are tensorgrad's Function names ("MatMul", "Add", "Sum"; backward nodes "MatMulBackward0"), not torch's
  ``aten::`` operator names, and there is no separate ``autograd::engine::evaluate_function`` wrapper event.
- Only CPU activity is recorded. ``ProfilerActivity.CUDA`` is accepted, but no device kernels are traced (tensorgrad
  has no CUDA event timeline here); the table has CPU columns only.
- ``profile_memory``, ``with_stack``, ``with_flops`` and ``with_modules`` are accepted and record nothing more (use
  ``tensorgrad.profiler.memory`` for allocations). ``record_shapes`` records each op's input shapes (``[]`` for
  non-tensor arguments), shown with ``key_averages(group_by_input_shape=True)``.
"""
import contextlib
import enum
import json
import os
import socket
import threading
import time
import warnings
from collections import OrderedDict

from ..autograd import engine as _engine
from ..autograd import function as _function
from ..tensor import Tensor

__all__ = ["ProfilerActivity", "ProfilerAction", "schedule", "profile", "record_function", "tensorboard_trace_handler",
           "supported_activities", "FunctionEvent", "FunctionEventAvg", "EventList"]


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 2
    XPU = 3
    MTIA = 4


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def supported_activities():
    return {ProfilerActivity.CPU}


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """A step -> ProfilerAction function: skip ``skip_first`` steps, then cycles of ``wait`` idle, ``warmup`` and
    ``active`` recorded steps (the last of each cycle RECORD_AND_SAVE), ``repeat`` cycles (0: unbounded); with
    ``skip_first_wait`` the first cycle has no wait. The same sequence as torch.profiler.schedule."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), warmup={warmup} (need >= 0), "
            f"active={active} (need > 0), repeat={repeat} (need >= 0), skip_first={skip_first} (need >= 0).")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results", stacklevel=2)

    def schedule_fn(step):
        if step < 0:
            raise AssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        num_steps = wait + warmup + active
        if repeat > 0 and step / num_steps >= repeat:
            return ProfilerAction.NONE
        mod_step = step % num_steps
        if mod_step < wait:
            return ProfilerAction.NONE
        if mod_step < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod_step < num_steps - 1 else ProfilerAction.RECORD_AND_SAVE
    return schedule_fn


def _default_schedule_fn(_):
    return ProfilerAction.RECORD


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False, use_python_export=False):
    """An on_trace_ready handler writing each cycle's Chrome trace to ``dir_name/<worker>.<time_ns>.pt.trace.json``
    (``.gz`` with use_gzip), the names torch gives them (worker: ``<hostname>_<pid>`` unless given)."""
    def handler_fn(prof):
        nonlocal worker_name
        try:
            os.makedirs(dir_name, exist_ok=True)
        except OSError as e:
            raise RuntimeError("Can't create directory: " + dir_name) from e
        if not worker_name:
            worker_name = f"{socket.gethostname()}_{os.getpid()}"
        file_name = f"{worker_name}.{time.time_ns()}.pt.trace.json" + (".gz" if use_gzip else "")
        prof.export_chrome_trace(os.path.join(dir_name, file_name))
    return handler_fn


# ------------------------------------------------------------------------------------------ recording
_now = time.perf_counter_ns
_active = None  # the _Recorder hung on the hooks, or None
_lock = threading.Lock()
_local = threading.local()  # per thread: .stack of open (name, start_ns) ranges and backward nodes


def _stack():
    s = getattr(_local, "stack", None)
    if s is None:
        s = _local.stack = []
    return s


def _shapes(args):
    return [list(a.shape) if isinstance(a, Tensor) else [] for a in args]


class _Recorder:
    """One trace: the raw events (name, start_ns, end_ns, thread id, input shapes, category)."""

    def __init__(self, record_shapes):
        self.record_shapes = record_shapes
        self.events = []
        self.starts = {}  # id(ctx) -> start_ns of an op whose forward is running

    def start(self):
        global _active
        with _lock:
            if _active is not None:
                raise RuntimeError("torch.profiler.profile: another profiler is already recording in this process "
                                   "(tensorgrad records one trace at a time)")
            _active = self
        starts = self.starts

        def stamp(ctx, *args, **kwargs):  # (ctx = cls() in Function.apply: the op's start)
            starts[id(ctx)] = _now()
        _function.Function.__init__ = stamp
        _function._forward_hooks.append(self._on_forward)
        _engine._node_hooks.append(self._on_node)
        self.t0 = _now()

    def stop(self):
        global _active
        try:
            _function._forward_hooks.remove(self._on_forward)
            _engine._node_hooks.remove(self._on_node)
        except ValueError:
            pass
        if "__init__" in _function.Function.__dict__:
            del _function.Function.__init__
        self.starts.clear()
        with _lock:
            if _active is self:
                _active = None

    def _on_forward(self, ctx, args, out, recorded):
        end = _now()
        start = self.starts.pop(id(ctx), end)
        cls = type(ctx)
        name = getattr(cls, "_forward_cls", None)  # (a torch-style Function's ctx is its backward node)
        name = (name or cls).__name__
        self.events.append((name, start, end, threading.get_native_id(),
                            _shapes(args) if self.record_shapes else [], "cpu_op"))

    def _on_node(self, event, node):
        s = _stack()
        if event == "pre":
            s.append((node, _now()))
            return
        end = _now()
        while s:  # (a node whose backward raised left its entry: dropped)
            n, start = s.pop()
            if n is node:
                self.events.append((node.name(), start, end, threading.get_native_id(), [], "cpu_op"))
                return


class record_function(contextlib.ContextDecorator):
    """A named range in the trace (a context manager or a decorator); does nothing when no profiler records."""

    def __init__(self, name, args=None):
        self.name = name
        self.args = args
        self._rec = None

    def __enter__(self):
        self._rec = _active
        if self._rec is not None:
            self._start = _now()
        return self

    def __exit__(self, *exc):
        rec, self._rec = self._rec, None
        if rec is not None and rec is _active:
            rec.events.append((self.name, self._start, _now(), threading.get_native_id(), [], "user_annotation"))
        return False


# ------------------------------------------------------------------------------------------ results
def _format_time(us):
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


class FunctionEvent:
    """One recorded interval; times in microseconds (cpu_time_total, self_cpu_time_total) as torch's."""

    def __init__(self, id, name, start_us, end_us, thread, input_shapes, category):
        self.id = id
        self.name = self.key = name
        self.start_us, self.end_us = start_us, end_us
        self.thread = thread
        self.input_shapes = input_shapes
        self.category = category
        self.cpu_children = []
        self.cpu_parent = None
        self.count = 1

    @property
    def cpu_time_total(self):
        return self.end_us - self.start_us

    @property
    def self_cpu_time_total(self):
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    cpu_time = cpu_time_total

    def __repr__(self):
        return (f"<FunctionEvent id={self.id} name={self.name} cpu_time={_format_time(self.cpu_time_total)} "
                f"self_cpu_time={_format_time(self.self_cpu_time_total)} input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """Events of one name (and input shapes, if grouped so) summed: count, totals, cpu_time the average."""

    def __init__(self, key, input_shapes):
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0

    def add(self, ev):
        self.count += ev.count
        self.cpu_time_total += ev.cpu_time_total
        self.self_cpu_time_total += ev.self_cpu_time_total
        return self

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"cpu_time={_format_time(self.cpu_time)} input_shapes={self.input_shapes}>")


_SORT_KEYS = {"cpu_time", "cpu_time_total", "self_cpu_time_total", "count"}


class EventList(list):
    """A list of FunctionEvent (or FunctionEventAvg) with torch's table, key_averages and chrome trace."""

    def __init__(self, *args, profiler=None):
        super().__init__(*args)
        self._profiler = profiler

    @property
    def self_cpu_time_total(self):
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0):
        groups = OrderedDict()
        for e in self:
            shapes = e.input_shapes if group_by_input_shape else None
            k = (e.key, str(shapes))
            if k not in groups:
                groups[k] = FunctionEventAvg(e.key, e.input_shapes if group_by_input_shape else [])
            groups[k].add(e)
        return EventList(groups.values(), profiler=self._profiler)

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False):
        events = list(self)
        if not events:
            return ""
        if sort_by is not None:
            if sort_by not in _SORT_KEYS:
                raise ValueError(f"table: sort_by={sort_by!r} is not a column tensorgrad's profiler records (CPU "
                                 f"only); one of {sorted(_SORT_KEYS)}")
            events.sort(key=lambda e: getattr(e, sort_by), reverse=True)
        if row_limit is not None and row_limit > 0:
            events = events[:row_limit]
        with_shapes = any(e.input_shapes for e in self)
        name_w = min(max(len(e.key) for e in events) + 4, max_name_column_width)
        shapes_w = min(max(len(str(e.input_shapes)) for e in events) + 4, max_shapes_column_width)
        heads = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
        widths = [name_w] + [12] * len(heads) + ([shapes_w] if with_shapes else [])
        heads = ["Name"] + heads + (["Input Shapes"] if with_shapes else [])
        line = "".join("-" * w + "  " for w in widths)

        def row(cells):
            return "".join(str(c).rjust(w) + "  " for c, w in zip(cells, widths))
        total = self.self_cpu_time_total
        out = [header] if header else []
        out += [line, row(heads), line]
        for e in events:
            name = e.key if len(e.key) < name_w - 3 else e.key[:name_w - 3] + "..."
            cells = [name, f"{100 * e.self_cpu_time_total / total if total else 0:.2f}%",
                     _format_time(e.self_cpu_time_total),
                     f"{100 * e.cpu_time_total / total if total else 0:.2f}%", _format_time(e.cpu_time_total),
                     _format_time(e.cpu_time), e.count]
            if with_shapes:
                cells.append(str(e.input_shapes)[:shapes_w])
            out.append(row(cells))
        out += [line, f"Self CPU time total: {_format_time(total)}", ""]
        return "\n".join(out)

    def __str__(self):
        return self.table()

    def export_chrome_trace(self, path):
        pid = os.getpid()
        trace = [{"ph": "X", "cat": e.category, "name": e.name, "pid": pid, "tid": e.thread,
                  "ts": e.start_us, "dur": e.cpu_time_total,
                  "args": {"External id": e.id, **({"Input Dims": e.input_shapes} if e.input_shapes else {})}}
                 for e in self if isinstance(e, FunctionEvent)]
        doc = {"schemaVersion": 1, "displayTimeUnit": "ms", "traceName": os.path.basename(path),
               "traceEvents": trace}
        if path.endswith(".gz"):
            import gzip
            with gzip.open(path, "wt") as f:
                json.dump(doc, f)
        else:
            with open(path, "w") as f:
                json.dump(doc, f)


def _build_events(raw, t0):
    """FunctionEvents from raw tuples, each given its parent and children by nesting of intervals per thread."""
    evs = [FunctionEvent(i, name, (s - t0) / 1e3, (e - t0) / 1e3, tid, shapes, cat)
           for i, (name, s, e, tid, shapes, cat) in enumerate(raw)]
    evs.sort(key=lambda ev: (ev.thread, ev.start_us, -ev.end_us))
    stack = []
    for ev in evs:
        while stack and (stack[-1].thread != ev.thread or stack[-1].end_us <= ev.start_us):
            stack.pop()
        if stack and ev.end_us <= stack[-1].end_us:
            ev.cpu_parent = stack[-1]
            stack[-1].cpu_children.append(ev)
        stack.append(ev)
    evs.sort(key=lambda ev: ev.start_us)
    for i, ev in enumerate(evs):
        ev.id = i
    return EventList(evs)


# ------------------------------------------------------------------------------------------ profile
class profile:
    """torch.profiler.profile: records between start()/stop() (or the with block), following ``schedule`` across
    step() calls when one is given (torch's transitions: a trace starts at the first WARMUP or RECORD step, is
    recorded through the RECORD steps, and is handed to ``on_trace_ready`` after RECORD_AND_SAVE or at stop()).
    Warmup steps record nothing here (there is no tracer to warm up). key_averages(), events() and
    export_chrome_trace() read the last finished trace."""

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=False, with_stack=False, with_flops=False, with_modules=False,
                 experimental_config=None, execution_trace_observer=None, acc_events=False, use_cuda=None,
                 custom_trace_id_callback=None, post_processing_timeout_s=None):
        acts = set(activities) if activities is not None else supported_activities()
        if use_cuda:
            acts.add(ProfilerActivity.CUDA)
        if not acts:
            raise AssertionError("No valid profiler activities found")
        for a in acts:
            if not isinstance(a, ProfilerActivity):
                raise TypeError(f"torch.profiler.profile: activities must be ProfilerActivity values, got {a!r}")
        self.activities = acts
        if acts - {ProfilerActivity.CPU}:
            warnings.warn(f"torch.profiler.profile: {sorted(a.name for a in acts - {ProfilerActivity.CPU})} activity "
                          "is not traced by tensorgrad's profiler (CPU op times only)", stacklevel=2)
        self.record_shapes = record_shapes
        self.profile_memory, self.with_stack, self.with_flops, self.with_modules = (
            profile_memory, with_stack, with_flops, with_modules)
        self.schedule = schedule or _default_schedule_fn
        self.record_steps = schedule is not None
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = self.schedule(self.step_num)
        self._rec = None
        self._events = None
        self._step_rf = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- trace lifecycle
    def _start_trace(self):
        self._rec = _Recorder(self.record_shapes)
        self._rec.start()

    def _stop_trace(self):
        rec, self._rec = self._rec, None
        if rec is not None:
            rec.stop()
            self._events = _build_events(rec.events, rec.t0)

    def _trace_ready(self):
        if self.on_trace_ready:
            self.on_trace_ready(self)

    def _transit(self, prev, cur):
        A = ProfilerAction
        recording = (A.RECORD, A.RECORD_AND_SAVE)
        if prev in recording and (cur is None or cur in (A.NONE, A.WARMUP) or prev is A.RECORD_AND_SAVE):
            if prev is A.RECORD and cur is not None:
                warnings.warn(f"Incorrect schedule: RECORD followed by {cur.name}")
            self._stop_trace()
            if prev is A.RECORD_AND_SAVE or cur is None:
                self._trace_ready()
        elif prev is A.WARMUP and cur in (A.NONE, None):
            if cur is A.NONE:
                warnings.warn("Incorrect schedule: WARMUP followed by NONE")
            self._events = EventList()  # (torch starts and stops a trace at once here: an empty one, not handed on)
        if cur in recording and self._rec is None:
            self._start_trace()

    def start(self):
        self._transit(ProfilerAction.NONE, self.current_action)
        if self.record_steps:
            self._step_rf = record_function(f"ProfilerStep#{self.step_num}").__enter__()

    def stop(self):
        if self._step_rf is not None:
            self._step_rf.__exit__(None, None, None)
            self._step_rf = None
        self._transit(self.current_action, None)

    def step(self):
        """Mark the start of the next step: moves along the schedule."""
        if self._step_rf is not None:
            self._step_rf.__exit__(None, None, None)
            self._step_rf = None
        prev = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        self._transit(prev, self.current_action)
        if self.record_steps:
            self._step_rf = record_function(f"ProfilerStep#{self.step_num}").__enter__()

    # -- results
    def _finished(self, what):
        if self._events is None:
            raise RuntimeError(f"torch.profiler.profile.{what}: no trace has been recorded yet (the profiler records "
                               "between start() and stop(), or on the RECORD steps of its schedule)")
        return self._events

    def events(self):
        return self._finished("events")

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("torch.profiler.profile.key_averages(group_by_input_shape=True) needs "
                               "record_shapes=True when profiling")
        return self._finished("key_averages").key_averages(group_by_input_shape)

    def export_chrome_trace(self, path, use_python_export=False):
        self._finished("export_chrome_trace").export_chrome_trace(path)

    def export_stacks(self, path, metric="self_cpu_time_total"):
        raise RuntimeError("torch.profiler.profile.export_stacks: stacks are not recorded by tensorgrad's profiler "
                           "(with_stack is accepted and ignored)")

    def add_metadata(self, key, value):
        pass  # (a chrome trace annotation torch keeps; nothing reads it here)
