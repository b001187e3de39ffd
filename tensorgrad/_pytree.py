"""torch.utils._pytree (tensorgrad.utils._pytree re-exports it; torch.func's transforms walk their arguments with
it, hence its place low in the package): flatten nested containers to a list of leaves and a TreeSpec, and back.

Private in torch, yet public model code imports it (x-transformers and vit-pytorch flatten a module's outputs to
handle the first one and rebuild the rest; denoising-diffusion maps over (args, kwargs)). The containers that are
nodes, as torch's: tuple, list, dict, OrderedDict, defaultdict, deque and namedtuples (register_pytree_node adds
more); everything else is a leaf, None included (torch >= 2.4). Dict keys keep insertion order.
"""
import collections

__all__ = ["TreeSpec", "LeafSpec", "register_pytree_node", "tree_flatten", "tree_unflatten", "tree_leaves",
           "tree_structure", "tree_map", "tree_map_", "tree_map_only", "tree_all", "tree_any", "tree_iter"]

# node type -> (flatten: node -> (children, context), unflatten: (children, context) -> node)
SUPPORTED_NODES = {}


def register_pytree_node(cls, flatten_fn, unflatten_fn, *, serialized_type_name=None, to_dumpable_context=None,
                         from_dumpable_context=None, flatten_with_keys_fn=None):
    """Make ``cls`` a node: flatten_fn(node) -> (children, context), unflatten_fn(children, context) -> node."""
    if cls in SUPPORTED_NODES:
        raise ValueError(f"{cls} is already registered as pytree node.")
    SUPPORTED_NODES[cls] = (flatten_fn, lambda children, context: unflatten_fn(children, context))


def _dict_flatten(d):
    return list(d.values()), list(d.keys())


register_pytree_node(tuple, lambda t: (list(t), None), lambda c, _: tuple(c))
register_pytree_node(list, lambda t: (list(t), None), lambda c, _: list(c))
register_pytree_node(dict, _dict_flatten, lambda c, keys: dict(zip(keys, c)))
register_pytree_node(collections.OrderedDict, _dict_flatten, lambda c, keys: collections.OrderedDict(zip(keys, c)))
register_pytree_node(collections.defaultdict, lambda d: (list(d.values()), [d.default_factory, list(d.keys())]),
                     lambda c, ctx: collections.defaultdict(ctx[0], zip(ctx[1], c)))
register_pytree_node(collections.deque, lambda d: (list(d), d.maxlen), lambda c, n: collections.deque(c, maxlen=n))


class _NamedTuple:
    """The node kind of every namedtuple class (the class itself is the context, as torch)."""


register_pytree_node(_NamedTuple, lambda t: (list(t), type(t)), lambda c, cls: cls(*c))


def _node_type(x):
    t = type(x)
    if t in SUPPORTED_NODES:
        return t
    if isinstance(x, tuple) and hasattr(t, "_fields"):
        return _NamedTuple
    return None


class TreeSpec:
    """The structure of a flattened tree: a node's type, its context (dict keys, a namedtuple's class, ...) and one
    TreeSpec per child; a leaf has type None."""

    def __init__(self, type, context, children_specs):
        self.type, self.context, self._children = type, context, list(children_specs)
        self.num_nodes = 1 + sum(c.num_nodes for c in self._children)
        self.num_leaves = 1 if type is None else sum(c.num_leaves for c in self._children)
        self.num_children = len(self._children)

    @property
    def children_specs(self):
        return list(self._children)

    def children(self):
        return list(self._children)

    def child(self, index):
        return self._children[index]

    def is_leaf(self):
        return self.type is None

    def unflatten(self, leaves):
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(f"treespec.unflatten(leaves): `leaves` has length {len(leaves)} but the spec refers to "
                             f"a pytree that holds {self.num_leaves} items ({self}).")
        it = iter(leaves)
        return self._build(it)

    def _build(self, it):
        if self.type is None:
            return next(it)
        return SUPPORTED_NODES[self.type][1]([c._build(it) for c in self._children], self.context)

    def flatten_up_to(self, tree):
        """tree's subtrees at this spec's leaves (tree must have this spec's nodes down to them)."""
        out = []
        self._up_to(tree, out)
        return out

    def _up_to(self, tree, out):
        if self.type is None:
            out.append(tree)
            return
        kind = _node_type(tree)
        if kind is not self.type:
            raise ValueError(f"Node type mismatch; expected {self._name()}, but got {type(tree)}.")
        children, context = SUPPORTED_NODES[kind][0](tree)
        if len(children) != len(self._children):
            raise ValueError(f"Node arity mismatch; expected {len(self._children)}, but got {len(children)}.")
        if context != self.context:
            raise ValueError(f"Node context mismatch for {self._name()}; expected {self.context!r}, but got "
                             f"{context!r}.")
        for c, spec in zip(children, self._children):
            spec._up_to(c, out)

    def _name(self):
        return "namedtuple" if self.type is _NamedTuple else self.type

    def __eq__(self, other):
        return isinstance(other, TreeSpec) and (self.type, self.context, self._children) == \
            (other.type, other.context, other._children)

    def __hash__(self):
        return hash((self.type, self.num_nodes, self.num_leaves))

    def __repr__(self, indent=0):
        if self.type is None:
            return "*"
        name = "namedtuple" if self.type is _NamedTuple else self.type.__name__
        inner = (",\n" + " " * (indent + 2)).join(c.__repr__(indent + 2) for c in self._children)
        return f"TreeSpec({name}, {self.context!r}, [{inner}])"


def LeafSpec():
    return TreeSpec(None, None, [])


def _flatten(tree, is_leaf, leaves):
    kind = None if (is_leaf is not None and is_leaf(tree)) else _node_type(tree)
    if kind is None:
        leaves.append(tree)
        return TreeSpec(None, None, [])
    children, context = SUPPORTED_NODES[kind][0](tree)
    return TreeSpec(kind, context, [_flatten(c, is_leaf, leaves) for c in children])


def tree_flatten(tree, is_leaf=None):
    """(the leaves of ``tree`` in order, its TreeSpec)."""
    leaves = []
    spec = _flatten(tree, is_leaf, leaves)
    return leaves, spec


def tree_unflatten(leaves, treespec):
    if not isinstance(treespec, TreeSpec):
        raise TypeError(f"tree_unflatten(leaves, treespec): Expected `treespec` to be instance of TreeSpec but got "
                        f"item of type {type(treespec)}.")
    return treespec.unflatten(leaves)


def tree_leaves(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[0]


def tree_iter(tree, is_leaf=None):
    return iter(tree_leaves(tree, is_leaf))


def tree_structure(tree, is_leaf=None):
    return tree_flatten(tree, is_leaf)[1]


def tree_map(func, tree, *rests, is_leaf=None):
    """``tree`` with each leaf x replaced by func(x, *the matching subtrees of rests)."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = [spec.flatten_up_to(r) for r in rests]
    return spec.unflatten(func(*xs) for xs in zip(leaves, *others))


def tree_map_(func, tree, *rests, is_leaf=None):
    """func applied to every leaf for its effect (an in-place update); returns ``tree`` itself."""
    leaves, spec = tree_flatten(tree, is_leaf)
    others = [spec.flatten_up_to(r) for r in rests]
    for xs in zip(leaves, *others):
        func(*xs)
    return tree


def tree_map_only(type_or_types, func, tree, is_leaf=None):
    """tree_map applying func only to the leaves that are instances of type_or_types (the others stay)."""
    return tree_map(lambda x: func(x) if isinstance(x, type_or_types) else x, tree, is_leaf=is_leaf)


def tree_all(pred, tree, is_leaf=None):
    return all(map(pred, tree_leaves(tree, is_leaf)))


def tree_any(pred, tree, is_leaf=None):
    return any(map(pred, tree_leaves(tree, is_leaf)))
