"""Under mpiexec -n <GPUs>: NCCL collectives on CUDA tensors and a DDP step on the GPU (one GPU per process).
Prints 'OK rank r'. Run by tests/test_distributed.py (marked gpu); a single GPU runs world size 1."""
import os

import numpy as np

import tensorgrad as tg
import tensorgrad.distributed as dist
from tensorgrad.nn.parallel import DistributedDataParallel as DDP

local = int(os.environ.get("LOCAL_RANK", 0))
tg.cuda.set_device(local)
dist.init_process_group("nccl")
r, n = dist.get_rank(), dist.get_world_size()
dev = f"cuda:{local}"
vals = [np.arange(6.0, dtype=np.float32).reshape(2, 3) + 10 * k for k in range(n)]
for op, want in ((dist.ReduceOp.SUM, sum(vals)), (dist.ReduceOp.AVG, sum(vals) / n), (dist.ReduceOp.MAX, vals[-1])):
    for async_op in (False, True):
        t = tg.tensor(vals[r], device=dev)
        w = dist.all_reduce(t, op=op, async_op=async_op)
        if async_op:
            w.wait()
        np.testing.assert_allclose(t.cpu().array, want, rtol=1e-6)
t = tg.tensor(vals[r].astype(np.float16), device=dev)
dist.all_reduce(t)
np.testing.assert_allclose(t.cpu().array.astype(np.float32), sum(vals), rtol=1e-3)
t = tg.tensor(vals[r], device=dev)
dist.broadcast(t, 0)
np.testing.assert_array_equal(t.cpu().array, vals[0])
out = tg.zeros(2 * n, 3, device=dev)
dist.all_gather_into_tensor(out, tg.tensor(vals[r], device=dev))
np.testing.assert_array_equal(out.cpu().array, np.concatenate(vals))
lst = [tg.zeros(2, 3, device=dev) for _ in range(n)]
dist.all_gather(lst, tg.tensor(vals[r], device=dev))
assert all((a.cpu().array == v).all() for a, v in zip(lst, vals))
full = np.arange(2.0 * n, dtype=np.float32) + 100 * r
o = tg.zeros(2, device=dev)
dist.reduce_scatter_tensor(o, tg.tensor(full, device=dev))
want = sum(np.arange(2.0 * n, dtype=np.float32) + 100 * k for k in range(n))[2 * r:2 * r + 2]
np.testing.assert_allclose(o.cpu().array, want)
# a CPU tensor in an NCCL group goes over MPI
c = tg.tensor(np.ones(3))
dist.all_reduce(c)
assert (c.array == n).all()

# DDP on the GPU: replicas equal after a few AdamW steps with fp16 autocast + GradScaler
tg.manual_seed(r)
model = tg.nn.Sequential(tg.nn.Linear(8, 16), tg.nn.GELU(), tg.nn.Linear(16, 4)).to(dev)
ddp = DDP(model, device_ids=[local], bucket_cap_mb=0.0005)
opt = tg.optim.AdamW(ddp.parameters(), lr=1e-2)
scaler = tg.amp.GradScaler()
g = np.random.default_rng(r)
for _ in range(5):
    x = tg.tensor(g.standard_normal((4, 8)).astype(np.float32), device=dev)
    with tg.autocast("cuda", dtype=tg.float16):
        loss = ddp(x).float().square().mean()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    opt.zero_grad()
sums = [None] * n
dist.all_gather_object(sums, [p.cpu().array for p in model.parameters()])
assert all(np.array_equal(a, b) for s in sums for a, b in zip(s, sums[0]))
dist.destroy_process_group()
print(f"OK rank {r}", flush=True)
