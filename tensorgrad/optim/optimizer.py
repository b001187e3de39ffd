"""Optimizer base: param_groups with per-group options, state keyed by parameter, state_dict in PyTorch's layout.

Subclasses implement ``_step_group(group)``; step() runs it under no_grad for every group. Updates write into
``p.array`` (the xp arrays) in place, so no graph nodes are created and Parameter identity never changes.
State values are tensorgrad Tensors (moment buffers) or Python numbers ('step').
"""
import copy

import numpy as np

from ..autograd.grad_mode import no_grad, enable_grad
from ..backend import to_device
from ..backend.sparse_coo import SparseCOO
from ..tensor import Tensor
from ..nn.grads import zero_grad_


class _Required:
    def __repr__(self):
        return "<required parameter>"


required = _Required()


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params should be an iterable of Tensors or dicts, got a Tensor "
                            f"(shape {tuple(params.shape)}); pass [tensor] or model.parameters()")
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ------------------------------------------------------------------------------- groups
    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"add_param_group: param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for i, p in enumerate(ps):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__} can only optimize Tensors, but params[{i}] is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor (params[{i}], shape "
                                 f"{tuple(p.shape)}); optimize the leaf it was computed from")
        if len({id(p) for p in ps}) != len(ps):
            raise ValueError(f"{type(self).__name__}: a parameter group contains the same parameter twice")
        group["params"] = ps
        for k, v in self.defaults.items():
            if v is required and k not in group:
                raise ValueError(f"{type(self).__name__}: parameter group didn't specify a value of required "
                                 f"optimization parameter {k!r}")
            group.setdefault(k, v)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in ps):
            raise ValueError(f"{type(self).__name__}: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        zero_grad_((p for g in self.param_groups for p in g["params"]), set_to_none)

    # ------------------------------------------------------------------------------- step
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group):  # pragma: no cover - abstract
        raise NotImplementedError

    def _state(self, p):
        s = self.state.get(p)
        if s is None:
            s = self.state[p] = {}
        return s

    # ------------------------------------------------------------------------------- state_dict
    def state_dict(self):
        """{'state': {index: {name: value}}, 'param_groups': [{options..., 'params': [indices]}]}; parameters are
        numbered in group order. Tensor state is copied, so the dict is a snapshot."""
        index = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {}
        for g in self.param_groups:
            for p in g["params"]:
                if p in self.state:
                    state[index[id(p)]] = {k: (Tensor._make(v.array.copy(), None) if isinstance(v, Tensor)
                                               else copy.deepcopy(v)) for k, v in self.state[p].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state_dict() of an optimizer over parameters of the same shapes, in the same group layout.
        Floating state is cast to each parameter's dtype and moved to its device."""
        groups = self.param_groups
        saved = state_dict["param_groups"]
        if len(groups) != len(saved):
            raise ValueError(f"{type(self).__name__}.load_state_dict: loaded state dict has {len(saved)} parameter "
                             f"groups, this optimizer has {len(groups)}")
        for i, (g, s) in enumerate(zip(groups, saved)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(f"{type(self).__name__}.load_state_dict: parameter group {i} has "
                                 f"{len(g['params'])} parameters here but {len(s['params'])} in the loaded state")
        id_map = {}
        for g, s in zip(groups, saved):
            for p, idx in zip(g["params"], s["params"]):
                id_map[idx] = p
        new_state = {}
        for idx, st in state_dict["state"].items():
            p = id_map.get(int(idx))
            if p is None:
                continue
            new_state[p] = {k: self._cast_state(k, v, p) for k, v in st.items()}
        self.state = new_state
        for g, s in zip(groups, saved):
            for k, v in s.items():
                if k != "params":
                    g[k] = copy.deepcopy(v)

    @staticmethod
    def _cast_state(key, v, p):
        if hasattr(v, "detach") and hasattr(v, "cpu") and not isinstance(v, Tensor):  # a torch tensor
            v = v.detach().cpu().numpy()
        if isinstance(v, Tensor):
            v = v.array
        if v.__class__ is SparseCOO:  # SGD's momentum buffer on a sparse gradient
            return Tensor._make(v.to_device(p.device).astype(p.dtype), None)
        if isinstance(v, np.ndarray) or hasattr(v, "__cuda_array_interface__"):
            if key == "step":
                return int(round(float(v.reshape(()).item())))
            arr = to_device(v, p.device)
            if arr.dtype.kind == "f":
                arr = arr.astype(p.dtype)
            arr = arr.copy() if arr is v else arr
            return Tensor._make(arr, None)
        return copy.deepcopy(v)

    def __getstate__(self):
        return self.__dict__.copy()

    def __repr__(self):
        s = type(self).__name__ + " ("
        for i, g in enumerate(self.param_groups):
            s += f"\nParameter Group {i}"
            for k in sorted(g):
                if k != "params":
                    s += f"\n    {k}: {g[k]}"
        return s + "\n)"
