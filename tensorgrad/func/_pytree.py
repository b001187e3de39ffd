"""The nested Python containers torch.func walks (torch.utils._pytree's default nodes): tuples, lists, dicts
(OrderedDict alike) and namedtuples are nodes; everything else, None included, is a leaf.

A spec is None for a leaf, else (kind, context, child specs): kind is tuple, list, dict or the namedtuple class;
context is the dict's keys (in order) or None. Specs print as torch's TreeSpec does, so messages match torch's."""


def _kind(x):
    t = type(x)
    if t is tuple or t is list:
        return t
    if isinstance(x, dict):
        return dict
    if isinstance(x, tuple) and hasattr(t, "_fields"):
        return t
    return None


def flatten(tree):
    """(leaves, spec) in depth-first order (dicts in their key order)."""
    leaves = []

    def walk(x):
        kind = _kind(x)
        if kind is None:
            leaves.append(x)
            return None
        if kind is dict:
            keys = list(x.keys())
            return dict, keys, [walk(x[k]) for k in keys]
        return kind, None, [walk(c) for c in x]
    spec = walk(tree)
    return leaves, spec


def unflatten(leaves, spec):
    it = iter(leaves)

    def build(s):
        if s is None:
            return next(it)
        kind, keys, children = s
        vals = [build(c) for c in children]
        if kind is dict:
            return dict(zip(keys, vals))
        if kind is tuple or kind is list:
            return kind(vals)
        return kind(*vals)  # a namedtuple
    return build(spec)


def num_leaves(spec):
    return 1 if spec is None else sum(num_leaves(c) for c in spec[2])


def spec_repr(spec, indent=0):
    """torch's TreeSpec repr: ``TreeSpec(tuple, None, [*, *])``, a leaf as ``*``."""
    if spec is None:
        return "*"
    kind, keys, children = spec
    name = kind.__name__ if kind in (tuple, list, dict) else "namedtuple"
    ctx = keys if kind is dict else (None if kind in (tuple, list) else kind)
    inner = (",\n" + " " * (indent + 2)).join(spec_repr(c, indent + 2) for c in children)
    return f"TreeSpec({name}, {ctx}, [{inner}])"


def broadcast_prefix(prefix, spec):
    """The leaves of ``prefix`` repeated over the tree ``spec`` describes: each leaf of ``prefix`` (a tree whose
    nodes match ``spec``'s top nodes) stands for every leaf of the subtree under it. None where they do not match.
    Dicts match by key."""
    out = []

    def walk(p, s):
        kind = _kind(p)
        if kind is None:
            out.extend([p] * num_leaves(s))
            return True
        if s is None or kind is not s[0] or len(p) != len(s[2]):
            return False
        if kind is dict:
            if set(p.keys()) != set(s[1]):
                return False
            return all(walk(p[k], c) for k, c in zip(s[1], s[2]))
        return all(walk(pc, c) for pc, c in zip(p, s[2]))
    return out if walk(prefix, spec) else None


__all__ = ["flatten", "unflatten", "num_leaves", "spec_repr", "broadcast_prefix"]
