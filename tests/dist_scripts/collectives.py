"""Under mpiexec -n 2: every collective's result on every rank (asserts; prints 'OK rank r' at the end)."""
import numpy as np

import tensorgrad as tg
import tensorgrad.distributed as dist

dist.init_process_group("gloo")
r, n = dist.get_rank(), dist.get_world_size()
assert dist.is_initialized() and n == 2 and dist.get_backend() == "gloo"
# the float32/64 SUM/AVG path calls the loaded MPI library's MPI_Allreduce itself unless told not to
from tensorgrad.distributed.process_group import _state  # noqa: E402
import os  # noqa: E402
print(f"direct rank {r}: {_state['world'].mpi.direct is not None}", flush=True)
if os.environ.get("TENSORGRAD_MPI_DIRECT") == "0":
    assert _state["world"].mpi.direct is None
vals = [np.arange(6.0).reshape(2, 3) + 10 * k for k in range(n)]  # rank k holds vals[k]
mine = vals[r]

for op, want in ((dist.ReduceOp.SUM, sum(vals)), (dist.ReduceOp.AVG, sum(vals) / n),
                 (dist.ReduceOp.MAX, np.maximum(*vals)), (dist.ReduceOp.MIN, np.minimum(*vals)),
                 (dist.ReduceOp.PRODUCT, vals[0] * vals[1])):
    for dtype in (np.float64, np.float32, np.float16):
        for async_op in (False, True):
            t = tg.tensor(mine.astype(dtype))
            keep = t.array
            w = dist.all_reduce(t, op=op, async_op=async_op)
            if async_op:
                assert w.wait() and w.is_completed()
            assert t.array is keep, "all_reduce must work in place on the tensor's array"
            np.testing.assert_allclose(t.array, want.astype(dtype), rtol=1e-3 if dtype == np.float16 else 1e-12)
# the short path's cases: sizes 0 and 1, a large array, not-waited-yet async works completed in reverse order,
# is_completed polling, float32 after float64 (one MpiAllreduce picks the MPI datatype per call)
for size in (0, 1, 1 << 18):
    for dtype in (np.float64, np.float32):
        ts = [tg.tensor(np.full(size, r + 1.0 + k, dtype)) for k in range(3)]
        works = [dist.all_reduce(t, async_op=True) for t in ts]
        while not works[0].is_completed():
            pass
        for w in reversed(works):
            assert w.wait()
        for k, t in enumerate(ts):
            assert t.array.dtype == dtype and t.array.shape == (size,)
            assert (t.array == 3.0 + 2 * k).all()
        t = tg.tensor(np.full(size, r + 1.0, dtype))
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        assert (t.array == 1.5).all()
# integers, a strided view, bitwise ops
t = tg.tensor(mine.astype(np.int64))
dist.all_reduce(t)
assert (t.array == sum(vals).astype(np.int64)).all()
base = tg.tensor(np.zeros((4, 3)) + r + 1)
view = base[::2]
dist.all_reduce(view)
assert (base.array[::2] == 3).all() and (base.array[1::2] == r + 1).all()
t = tg.tensor(np.array([1 << r, 3], dtype=np.int32))
dist.all_reduce(t, op=dist.ReduceOp.BOR)
assert list(t.array) == [3, 3]

# broadcast (sync and async), from each source
for src in range(n):
    t = tg.tensor(mine.copy())
    dist.broadcast(t, src)
    assert (t.array == vals[src]).all()
    t = tg.tensor(mine.astype(np.float16))
    dist.broadcast(t, src, async_op=True).wait()
    assert (t.array == vals[src].astype(np.float16)).all()

# all_gather (list) and all_gather_into_tensor (cat and stack layouts), async
outs = [tg.zeros(2, 3, dtype=tg.float64) for _ in range(n)]
dist.all_gather(outs, tg.tensor(mine))
assert all((o.array == v).all() for o, v in zip(outs, vals))
outs = [tg.zeros(2, 3, dtype=tg.float64) for _ in range(n)]
dist.all_gather(outs, tg.tensor(mine), async_op=True).wait()
assert all((o.array == v).all() for o, v in zip(outs, vals))
cat = tg.zeros(2 * n, 3, dtype=tg.float64)
dist.all_gather_into_tensor(cat, tg.tensor(mine))
assert (cat.array == np.concatenate(vals)).all()
stack = tg.zeros(n, 2, 3, dtype=tg.float64)
dist.all_gather_into_tensor(stack, tg.tensor(mine), async_op=True).wait()
assert (stack.array == np.stack(vals)).all()

# reduce_scatter (list) and reduce_scatter_tensor
full = [np.arange(4.0) + 100 * k for k in range(n)]  # rank k's input, split in n blocks of 2
out = tg.zeros(2, dtype=tg.float64)
dist.reduce_scatter(out, [tg.tensor(b) for b in np.split(full[r], n)])
assert (out.array == np.split(sum(full), n)[r]).all()
out = tg.zeros(2, dtype=tg.float64)
dist.reduce_scatter_tensor(out, tg.tensor(full[r]), op=dist.ReduceOp.AVG, async_op=True).wait()
assert (out.array == np.split(sum(full) / n, n)[r]).all()

# reduce to a destination, send/recv, objects, barrier
t = tg.tensor(mine.copy())
dist.reduce(t, dst=1)
assert (t.array == (sum(vals) if r == 1 else mine)).all()
if r == 0:
    dist.send(tg.tensor(np.array([7.0, 8.0])), dst=1)
else:
    got = tg.zeros(2, dtype=tg.float64)
    assert dist.recv(got, src=0) == 0 and list(got.array) == [7.0, 8.0]
objs = [None] * n
dist.all_gather_object(objs, {"rank": r})
assert objs == [{"rank": k} for k in range(n)]
lst = [r, "x"] if r == 0 else [None, None]
dist.broadcast_object_list(lst, src=0)
assert lst == [0, "x"]
dist.barrier()
w = dist.barrier(async_op=True)
w.wait()
# all_reduce's short path (a float32/64 SUM): a write autograd notices, as any in-place op; .data's own counter
# (torch's: the parameter's saved value is not flagged); a read-only array refused by name on both ranks
for dtype in (np.float32, np.float64):
    w = tg.tensor(np.ones(3, dtype), requires_grad=True)
    x = tg.tensor(np.full(3, 2.0, dtype))
    y = (w * x).sum()
    dist.all_reduce(x)
    assert (x.array == 4).all()
    try:
        y.backward()
        raise AssertionError("all_reduce into a saved array must make backward refuse")
    except RuntimeError as e:
        assert "modified in place" in str(e), e
    p = tg.tensor(np.ones(3, dtype), requires_grad=True)
    y = (p * p).sum()
    dist.all_reduce(p.data, op=dist.ReduceOp.AVG)
    y.backward()
    try:
        dist.all_reduce(tg.tensor(np.ones(3, dtype)).expand(2, 3))
        raise AssertionError("an expanded view must be refused")
    except RuntimeError as e:
        assert "single memory location" in str(e), e

g = dist.new_group([0, 1])
t = tg.tensor(np.ones(3))
dist.all_reduce(t, group=g)
assert (t.array == 2).all()
dist.destroy_process_group()
assert not dist.is_initialized()
print(f"OK rank {r}", flush=True)
