"""Under mpiexec -n 2: DDP corrects a rank that starts from other weights; find_unused_parameters; ZeRO-1 equals
plain AdamW with 1/N of the state per rank; state_dict consolidation; DistributedSampler defaults. 'OK rank r'."""
import copy

import numpy as np

import tensorgrad as tg
import tensorgrad.distributed as dist
from tensorgrad import nn
from tensorgrad.distributed.optim import ZeroRedundancyOptimizer
from tensorgrad.nn.parallel import DistributedDataParallel as DDP
from tensorgrad.utils.data import DistributedSampler

dist.init_process_group("mpi")
r, n = dist.get_rank(), dist.get_world_size()

# 1. different initial weights and buffers: after wrapping, every rank holds rank 0's
tg.manual_seed(100 + r)
net = nn.Sequential(nn.Linear(5, 7), nn.BatchNorm1d(7), nn.Linear(7, 3)).double()
net[1].running_mean.array[...] = r + 1.0
before = [p.array.copy() for p in net.parameters()]
ddp = DDP(net)
allp = [None] * n
dist.all_gather_object(allp, [p.array for p in net.parameters()] + [net[1].running_mean.array])
assert all(np.array_equal(a, b) for a, b in zip(allp[0], allp[1])), "replicas differ after construction"
assert (net[1].running_mean.array == 1.0).all()
changed = any(not np.array_equal(a, b.array) for a, b in zip(before, net.parameters()))
assert changed == (r != 0), "rank 0 keeps its weights, the others take them"
assert "module.0.weight" in ddp.state_dict() and ddp.module is net

# 2. find_unused_parameters: a branch used on rank 0 only, one used on no rank
class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.never = nn.Linear(3, 1), nn.Linear(3, 1), nn.Linear(3, 1)

    def forward(self, x, use_b):
        return self.a(x) + (self.b(x) if use_b else 0)

tg.manual_seed(0)
m = Branchy().double()
d = DDP(m, find_unused_parameters=True)
x = tg.tensor(np.ones((2, 3)) * (r + 1))
d(x, use_b=(r == 0)).sum().backward()
# grad of b: rank 0's (2 rows of ones -> [2,2,2]) averaged with rank 1's zeros -> [1,1,1]
np.testing.assert_allclose(m.b.weight.grad.array, [[1.0, 1.0, 1.0]])
np.testing.assert_allclose(m.a.weight.grad.array, [[(2 + 4) / 2] * 3])
assert m.never.weight.grad is None, "unused on every rank: .grad stays None"
m2 = Branchy().double()
d2 = DDP(m2)
try:
    d2(x, use_b=True).sum().backward()
    raise AssertionError("expected an error for a parameter without gradient")
except RuntimeError as e:
    assert "find_unused_parameters=True" in str(e) and "never" in str(e)

# 3. ZeRO-1: same result as AdamW on every rank, about half the state each, consolidated state_dict
tg.manual_seed(7)
model = nn.Sequential(nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 4)).double()
ref = copy.deepcopy(model)
zd = DDP(model)
zero = ZeroRedundancyOptimizer(zd.parameters(), tg.optim.AdamW, lr=1e-2, weight_decay=0.1)
plain = tg.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.1)
g = np.random.default_rng(3)
for step in range(5):
    xb = g.standard_normal((2 * n, 16))
    for grp in zero.param_groups:
        grp["lr"] = 1e-2 * (step + 1) / 5
    for grp in plain.param_groups:
        grp["lr"] = 1e-2 * (step + 1) / 5
    zd(tg.tensor(xb[r * 2:(r + 1) * 2])).square().mean().backward()
    zero.step()
    zero.zero_grad()
    ref(tg.tensor(xb)).square().mean().backward()
    plain.step()
    plain.zero_grad()
diff = max(float(np.abs(a.array - b.array).max()) for a, b in zip(model.parameters(), ref.parameters()))
assert diff < 1e-12, diff
mine = sum(v.array.nbytes for s in zero.state.values() for v in s.values() if isinstance(v, tg.Tensor))
full = sum(v.array.nbytes for s in plain.state.values() for v in s.values() if isinstance(v, tg.Tensor))
shares = [None] * n
dist.all_gather_object(shares, mine)
assert sum(shares) == full and max(shares) < 0.75 * full, (shares, full)
zero.consolidate_state_dict(to=0)
if r == 0:
    sd = zero.state_dict()
    ps = plain.state_dict()
    assert sorted(sd["state"]) == sorted(ps["state"])
    for i in ps["state"]:
        np.testing.assert_allclose(sd["state"][i]["exp_avg"].array, ps["state"][i]["exp_avg"].array, rtol=1e-12)
    fresh = tg.optim.AdamW(copy.deepcopy(ref).parameters(), lr=1e-2)
    fresh.load_state_dict(sd)  # loads into an unsharded optimizer
else:
    try:
        zero.state_dict()
        raise AssertionError("state_dict off the consolidating rank must raise")
    except RuntimeError:
        pass
sd = [zero.state_dict() if r == 0 else None]
dist.broadcast_object_list(sd, src=0)
zero.load_state_dict(sd[0])

# 4. DistributedSampler takes num_replicas and rank from the process group
s = DistributedSampler(list(range(10)), shuffle=False)
assert s.num_replicas == n and s.rank == r and list(s) == list(range(r, 10, n))

dist.destroy_process_group()
print(f"OK rank {r}", flush=True)
