"""tensorgrad.utils._pytree (torch.utils._pytree under the alias) against torch's: leaves and their order, specs
(equality, repr, counts), round trips, tree_map over several trees, is_leaf, registered nodes and the errors."""
import collections
import subprocess
import sys

import pytest
import torch
import torch.utils._pytree as tp

import tensorgrad as tg
import tensorgrad.utils._pytree as gp
from helpers import raises

P = collections.namedtuple("P", "x y")

TREES = [
    1, None, (), [], {},
    (1, None, [2, 3]),
    {"b": 1, "a": [2, (3, 4)], "c": None},
    [P(1, (2, 3)), collections.OrderedDict(z=1, y=2)],
    {"dd": collections.defaultdict(list, {"k": 5, "j": [6]}), "dq": collections.deque([7, 8], maxlen=4)},
    ((((1,),),), [[[]]]),
    {1: "a", "b": (2.5, "c")},
]


@pytest.mark.parametrize("tree", TREES, ids=[str(i) for i in range(len(TREES))])
def test_flatten_unflatten_as_torch(tree):
    leaves, spec = gp.tree_flatten(tree)
    tleaves, tspec = tp.tree_flatten(tree)
    assert leaves == tleaves
    assert spec.num_leaves == tspec.num_leaves and spec.num_nodes == tspec.num_nodes
    assert spec.is_leaf() == tspec.is_leaf()
    back = gp.tree_unflatten(leaves, spec)
    assert back == tp.tree_unflatten(tleaves, tspec) == tree
    assert type(back) is type(tree)
    assert gp.tree_leaves(tree) == tp.tree_leaves(tree)


def test_repr_as_torch():
    for tree in [(1, 2), {"a": [1, 2], "b": 3}, [1, (2, [3])], 5]:
        assert repr(gp.tree_structure(tree)) == repr(tp.tree_structure(tree))


def test_spec_equality_as_torch():
    pairs = [((1, 2), (3, 4)), ((1, 2), [3, 4]), ({"a": 1}, {"b": 1}), ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
             ((1, (2,)), (1, 2)), (P(1, 2), (1, 2)), (None, 3)]
    for a, b in pairs:
        assert (gp.tree_structure(a) == gp.tree_structure(b)) == (tp.tree_structure(a) == tp.tree_structure(b)), (a, b)


def test_tensors_are_leaves_and_tree_map_as_torch():
    x, y = tg.ones(2), tg.arange(3.0)
    tree = {"out": x, "rest": (y, None, [x])}
    leaves, spec = gp.tree_flatten(tree)
    assert len(leaves) == 4 and leaves[0] is x and leaves[2] is None
    doubled = gp.tree_map(lambda t: t * 2 if isinstance(t, tg.Tensor) else t, tree)
    assert doubled["rest"][1] is None and doubled["rest"][0].tolist() == [0.0, 2.0, 4.0]
    only = gp.tree_map_only(tg.Tensor, lambda t: t.sum().item(), tree)
    assert only == {"out": 2.0, "rest": (3.0, None, [2.0])}
    # x-transformers' pattern: flatten the outputs, change the first, rebuild
    (first, *rest), s = gp.tree_flatten((x, {"k": y}))
    rebuilt = gp.tree_unflatten((first + 1, *rest), s)
    assert rebuilt[0].tolist() == [2.0, 2.0] and rebuilt[1]["k"] is y


def test_tree_map_several_trees_as_torch():
    a, b = (1, [2, {"k": 3}]), (10, [20, {"k": 30}])
    assert gp.tree_map(lambda u, v: u + v, a, b) == tp.tree_map(lambda u, v: u + v, a, b)
    # a rest may hold a whole subtree where the first tree has a leaf
    a2, b2 = (1, 2), ((5, 6), 7)
    assert gp.tree_map(lambda u, v: (u, v), a2, b2) == tp.tree_map(lambda u, v: (u, v), a2, b2)
    for m in (gp, tp):
        with pytest.raises(ValueError):
            m.tree_map(lambda u, v: u + v, (1, [2]), (10, 20))
        with pytest.raises(ValueError):
            m.tree_map(lambda u, v: u, {"a": 1}, {"b": 1})
        with pytest.raises(ValueError):
            m.tree_map(lambda u, v: u, [1, 2], [1, 2, 3])


def test_is_leaf_as_torch():
    tree = {"a": (1, 2), "b": [(3, 4)]}
    stop = lambda x: isinstance(x, tuple)  # noqa: E731
    assert gp.tree_leaves(tree, is_leaf=stop) == tp.tree_leaves(tree, is_leaf=stop) == [(1, 2), (3, 4)]
    assert gp.tree_map(len, tree, is_leaf=stop) == tp.tree_map(len, tree, is_leaf=stop)


def test_predicates_and_map_inplace():
    tree = [1, (2, 3)]
    for m in (gp, tp):
        assert m.tree_all(lambda v: v > 0, tree) and not m.tree_any(lambda v: v > 5, tree)
    seen = []
    assert gp.tree_map_(seen.append, tree) is tree and seen == [1, 2, 3]


def test_unflatten_wrong_count_refused_as_torch():
    _, spec = gp.tree_flatten((1, [2, 3]))
    _, tspec = tp.tree_flatten((1, [2, 3]))
    with raises(ValueError, "has length 2 but the spec refers to a pytree that holds 3 items"):
        gp.tree_unflatten([1, 2], spec)
    with raises(ValueError, "has length 2 but the spec refers to a pytree that holds 3 items"):
        tp.tree_unflatten([1, 2], tspec)
    with pytest.raises(TypeError):
        gp.tree_unflatten([1], "not a spec")


def test_register_pytree_node():
    class Box:
        def __init__(self, a, b):
            self.a, self.b = a, b

    gp.register_pytree_node(Box, lambda bx: ([bx.a, bx.b], None), lambda c, _: Box(*c))
    try:
        leaves, spec = gp.tree_flatten([Box(1, (2, 3))])
        assert leaves == [1, 2, 3]
        back = gp.tree_unflatten([4, 5, 6], spec)[0]
        assert isinstance(back, Box) and back.a == 4 and back.b == (5, 6)
        with raises(ValueError, "already registered"):
            gp.register_pytree_node(Box, lambda bx: ([], None), lambda c, _: Box(0, 0))
    finally:
        gp.SUPPORTED_NODES.pop(Box)


def test_under_the_alias():
    code = ("import tensorgrad.compat; tensorgrad.compat.install()\n"
            "import torch\n"
            "from torch.utils._pytree import tree_flatten, tree_unflatten, tree_map\n"
            "out = (torch.ones(2), {'a': torch.zeros(1)})\n"
            "(first, *rest), spec = tree_flatten(out)\n"
            "new = tree_unflatten((first * 3, *rest), spec)\n"
            "print(new[0].tolist(), tree_map(lambda t: t.shape[0], out))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[3.0, 3.0] (2, {'a': 1})"
