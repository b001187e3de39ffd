"""What torch.func's transforms need of the nested containers they walk, on tensorgrad/_pytree.py (torch.utils.
_pytree): leaves and TreeSpecs, whose printed form matches torch's messages, and the broadcast of an in_dims/out_dims
prefix over a tree."""
from .._pytree import SUPPORTED_NODES, _node_type, tree_flatten as flatten


def unflatten(leaves, spec):
    return spec.unflatten(leaves)


def num_leaves(spec):
    return spec.num_leaves


def spec_repr(spec):
    return repr(spec)


def broadcast_prefix(prefix, spec):
    """The leaves of ``prefix`` repeated over the tree ``spec`` describes: each leaf of ``prefix`` (a tree whose
    nodes match ``spec``'s top nodes) stands for every leaf of the subtree under it. None where they do not match.
    Dicts match by key."""
    out = []

    def walk(p, s):
        kind = _node_type(p)
        if kind is None:
            out.extend([p] * s.num_leaves)
            return True
        children, context = SUPPORTED_NODES[kind][0](p)
        if kind is not s.type or len(children) != s.num_children:
            return False
        if isinstance(p, dict):
            if set(context) != set(s.context):
                return False
            children = [p[k] for k in s.context]
        return all(walk(pc, c) for pc, c in zip(children, s.children_specs))
    return out if walk(prefix, spec) else None


__all__ = ["flatten", "unflatten", "num_leaves", "spec_repr", "broadcast_prefix"]
