"""Under mpiexec -n 2: DDP training on per-rank shards ends with the parameters of one process training on the global
batch (rank 0 runs that reference itself). Prints one JSON line per case from rank 0: max abs parameter difference.

Cases: float64 (AdamW, clipping, accumulation through no_sync and through require_backward_grad_sync, small buckets,
gradient_as_bucket_view, gradient checkpointing); float32 params with fp16 autocast + GradScaler."""
import copy
import json
import sys

import numpy as np

import tensorgrad as tg
import tensorgrad.distributed as dist
from tensorgrad import nn
from tensorgrad.nn.parallel import DistributedDataParallel as DDP

STEPS, MICRO, B, D = 20, 2, 4, 16


class Net(nn.Module):
    def __init__(self, checkpointed=False):
        super().__init__()
        self.inp = nn.Linear(D, 32)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(32, 32), nn.GELU()) for _ in range(3)])
        self.out = nn.Linear(32, 4)
        self.checkpointed = checkpointed

    def forward(self, x, y):
        h = self.inp(x).relu()
        for b in self.blocks:
            h = tg.checkpoint(b, h) if self.checkpointed else b(h)
        logits = self.out(h)
        return logits, nn.functional.cross_entropy(logits.float(), y)


def batches(dtype):
    g = np.random.default_rng(0)
    n = dist.get_world_size()
    xs = g.standard_normal((STEPS, MICRO, n * B, D)).astype(dtype)
    ys = g.integers(0, 4, (STEPS, MICRO, n * B))
    return xs, ys


def train(model, opt, scaler, xs, ys, shard, fp16, ddp=None, mode="no_sync", pieces=1):
    """pieces > 1 (the fp16 reference): each micro-batch run as that many shards with the loss divided among them,
    which is the global batch's math up to fp16's rounding of each shard's sums, the rounding DDP's ranks do."""
    for s in range(STEPS):
        for m in range(MICRO * pieces):
            part = slice(None) if pieces == 1 else slice((m % pieces) * B, (m % pieces + 1) * B)
            x, y = tg.tensor(xs[s, m // pieces, shard][part]), tg.tensor(ys[s, m // pieces, shard][part])
            last = m == MICRO * pieces - 1
            if ddp is not None and mode == "flag":
                ddp.require_backward_grad_sync = last
            ctx = ddp.no_sync() if (ddp is not None and mode == "no_sync" and not last) else _null()
            with ctx:
                with tg.autocast("cpu", dtype=tg.float16, enabled=fp16):
                    _, loss = model(x, y)
                scaler.scale(loss / (MICRO * pieces)).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def case(name, dtype=np.float64, fp16=False, checkpointed=False, mode="no_sync", **ddp_kw):
    tg.manual_seed(1234 + dist.get_rank())  # different initial weights: DDP's broadcast makes them rank 0's
    net = Net(checkpointed)
    if dtype == np.float64:
        net.double()
    ref = copy.deepcopy(net)  # rank 0's copy is the reference's start
    start = copy.deepcopy(net)
    xs, ys = batches(dtype)
    r, n = dist.get_rank(), dist.get_world_size()
    ddp = DDP(net, device_ids=[0], **ddp_kw)
    opt = tg.optim.AdamW(ddp.parameters(), lr=1e-2, weight_decay=0.1)
    train(ddp, opt, tg.amp.GradScaler(enabled=fp16), xs, ys, slice(r * B, (r + 1) * B), fp16, ddp, mode)
    finals = [None] * n
    dist.all_gather_object(finals, [p.array for p in net.parameters()])
    if r == 0:
        ropt = tg.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
        train(ref, ropt, tg.amp.GradScaler(enabled=fp16), xs, ys, slice(None), fp16)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(finals[0], [p.array for p in ref.parameters()]))
        if fp16:  # the same global batch, its fp16 sums rounded per shard as the ranks round them
            sharded, ref = ref, copy.deepcopy(start)
            sopt = tg.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
            train(ref, sopt, tg.amp.GradScaler(enabled=fp16), xs, ys, slice(None), fp16, pieces=n)
            diff, fp16_global = max(float(np.abs(a - b.array).max()) for a, b in zip(finals[0], ref.parameters())), diff
        ranks = max(float(np.abs(a - b).max()) for a, b in zip(finals[0], finals[1]))
        moved = max(float(np.abs(a - b.array).max()) for a, b in zip(finals[0], Net().parameters()))
        print(json.dumps({"case": name, "vs_single": diff, "between_ranks": ranks, "moved": moved,
                          "buckets": len(ddp.bucket_sizes()),
                          **({"fp16_vs_global_batch_at_once": fp16_global} if fp16 else {})}), flush=True)


dist.init_process_group("gloo")
which = sys.argv[1] if len(sys.argv) > 1 else "all"
if which in ("all", "f64"):
    case("float64 no_sync")
    case("float64 require_backward_grad_sync, 1 KB buckets, bucket views", mode="flag", bucket_cap_mb=1 / 1024,
         gradient_as_bucket_view=True)
    case("float64 checkpointed blocks", checkpointed=True, bucket_cap_mb=0.004)
if which in ("all", "fp16"):
    case("fp16 autocast + GradScaler", dtype=np.float32, fp16=True)
dist.destroy_process_group()
