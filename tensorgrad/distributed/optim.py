"""ZeroRedundancyOptimizer (ZeRO stage 1, torch.distributed.optim's): optimizer state sharded over the ranks.

Every parameter is owned by one rank (greedy: each, in order, to the rank holding the fewest elements so far); a
rank's local optimizer (``optimizer_class``) holds state only for the parameters it owns, so AdamW's two moments
take about 1/world_size of the memory per rank. step(): hyperparameters of the global param_groups (what a
scheduler or a training loop sets, e.g. ``group['lr']``) are copied to the local groups, the local optimizer steps
its parameters (gradients are already averaged, by DistributedDataParallel), then each rank broadcasts the
parameters it owns, one flat buffer per owner and dtype, so all replicas are equal again.

state_dict() follows torch: ``consolidate_state_dict(to=0)`` gathers every rank's shard to rank ``to`` (a collective:
every rank calls it), after which state_dict() on that rank returns the whole optimizer's state in the layout of an
unsharded optimizer of the same class (so it loads into one, and back into a ZeroRedundancyOptimizer on any
number of ranks with load_state_dict()).
"""
import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd import version as _versions
from ..tensor import Tensor
from . import collectives as C
from .process_group import default_group

__all__ = ["ZeroRedundancyOptimizer"]


class ZeroRedundancyOptimizer:
    def __init__(self, params, optimizer_class, process_group=None, parameters_as_bucket_view=False,
                 overlap_with_ddp=False, **defaults):
        if overlap_with_ddp:
            raise NotImplementedError("ZeroRedundancyOptimizer(overlap_with_ddp=True) is not supported")
        self.process_group = process_group
        pg = default_group(process_group, "ZeroRedundancyOptimizer")
        self.rank, self.world_size = pg.rank(), pg.size()
        self.optimizer_class, self.defaults = optimizer_class, dict(defaults)
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.param_groups = []
        for g in groups:
            g = dict(g)
            g["params"] = [g["params"]] if isinstance(g["params"], Tensor) else list(g["params"])
            self.param_groups.append(g)
        # owners: greedy on element counts, in order
        loads = [0] * self.world_size
        self.owner = {}
        for g in self.param_groups:
            for p in g["params"]:
                r = int(np.argmin(loads))
                self.owner[id(p)] = r
                loads[r] += p.numel()
        local = [{**{k: v for k, v in g.items() if k != "params"},
                  "params": [p for p in g["params"] if self.owner[id(p)] == self.rank]} for g in self.param_groups]
        self._local_index = [[i for i, p in enumerate(g["params"]) if self.owner[id(p)] == self.rank]
                             for g in self.param_groups]
        # torch's Optimizer takes groups without parameters badly; an empty local group keeps its options
        nonempty = [g for g in local if g["params"]]
        self.optim = optimizer_class(nonempty, **defaults) if nonempty else None
        self._group_map = [i for i, g in enumerate(local) if g["params"]]  # local group -> global group index
        if self.optim is not None:  # defaults the local optimizer filled in, visible in the global groups
            for lg, gi in zip(self.optim.param_groups, self._group_map):
                for k, v in lg.items():
                    if k != "params":
                        self.param_groups[gi].setdefault(k, v)
        self._consolidated = None

    @property
    def state(self):
        """This rank's shard of the state (its own parameters only)."""
        return self.optim.state if self.optim is not None else {}

    def zero_grad(self, set_to_none=True):
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.array[...] = 0

    def _sync_hyperparameters(self):
        if self.optim is None:
            return
        for lg, gi in zip(self.optim.param_groups, self._group_map):
            for k, v in self.param_groups[gi].items():
                if k != "params":
                    lg[k] = v

    def step(self, closure=None, **kwargs):
        self._sync_hyperparameters()
        loss = self.optim.step(closure, **kwargs) if self.optim is not None else (closure() if closure else None)
        self._broadcast_params()
        return loss

    def _broadcast_params(self):
        if self.world_size == 1:
            return
        pg = default_group(self.process_group)
        with no_grad():
            for r in range(self.world_size):
                by_dtype = {}
                for g in self.param_groups:
                    for p in g["params"]:
                        if self.owner[id(p)] == r:
                            by_dtype.setdefault((str(p.array.dtype), p.device.type), []).append(p)
                for ps in by_dtype.values():
                    xp = ps[0]._xp
                    flat = xp.concatenate([p.array.reshape(-1) for p in ps])
                    C.broadcast(Tensor._make(flat, None), pg.ranks[r], group=self.process_group)
                    if r != self.rank:
                        off = 0
                        for p in ps:
                            p.array[...] = flat[off:off + p.array.size].reshape(p.array.shape)
                            _versions.bump(p.array)
                            off += p.array.size

    # ---------------------------------------------------------------------------------------- state
    def _global_index(self):
        index = {}
        for g in self.param_groups:
            for p in g["params"]:
                index.setdefault(id(p), len(index))
        return index

    def _local_state(self):
        """{global index: {name: numpy value or number}} for this rank's parameters."""
        index = self._global_index()
        out = {}
        for p, s in self.state.items():
            out[index[id(p)]] = {k: (v.array.get() if hasattr(v.array, "get") else v.array.copy())
                                 if isinstance(v, Tensor) else v for k, v in s.items()}
        return out

    def consolidate_state_dict(self, to=0):
        """Gather every rank's state shard to rank ``to`` (every rank must call it)."""
        shards = [None] * self.world_size
        if self.world_size == 1:
            shards = [self._local_state()]
        else:
            pg = default_group(self.process_group)
            got = pg.mpi.gather_object(self._local_state(), pg.group_rank(to))
            shards = got
        if self.rank == to:
            merged = {}
            for sh in shards:
                merged.update(sh)
            self._consolidated = merged
        else:
            self._consolidated = None

    def state_dict(self):
        """The whole optimizer's state (after consolidate_state_dict on this rank), as an unsharded optimizer's."""
        if self._consolidated is None:
            raise RuntimeError(f"ZeroRedundancyOptimizer.state_dict: rank {self.rank} has no consolidated state; call "
                               "consolidate_state_dict(to=this rank) on every rank first")
        index = self._global_index()
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in g["params"]]
            groups.append(packed)
        state = {i: {k: Tensor._make(np.array(v), None) if isinstance(v, np.ndarray) else v for k, v in s.items()}
                 for i, s in sorted(self._consolidated.items())}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a whole optimizer's state_dict (every rank takes its own parameters' part)."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"ZeroRedundancyOptimizer.load_state_dict: {len(saved)} parameter groups saved, "
                             f"{len(self.param_groups)} here")
        index = self._global_index()
        for g, s in zip(self.param_groups, saved):
            for k, v in s.items():
                if k != "params":
                    g[k] = v
        if self.optim is None:
            return
        local_groups, local_state, li = [], {}, 0
        for lg, gi in zip(self.optim.param_groups, self._group_map):
            packed = {k: v for k, v in self.param_groups[gi].items() if k != "params"}
            packed["params"] = []
            for p in lg["params"]:
                gidx = index[id(p)]
                if gidx in state_dict["state"]:
                    local_state[li] = state_dict["state"][gidx]
                packed["params"].append(li)
                li += 1
            local_groups.append(packed)
        self.optim.load_state_dict({"state": local_state, "param_groups": local_groups})

    def add_param_group(self, param_group):
        raise NotImplementedError("ZeroRedundancyOptimizer.add_param_group: give every group at construction")

    def __repr__(self):
        return (f"ZeroRedundancyOptimizer({self.optimizer_class.__name__}, rank {self.rank} of {self.world_size}, "
                f"{sum(1 for o in self.owner.values() if o == self.rank)} of {len(self.owner)} parameters owned)")
