"""einsum vs torch.einsum, forward and the gradient of every operand: explicit and implicit outputs, ellipsis
(also broadcast), repeated subscripts (diagonals, traces), sums, size-1 broadcasting, 0-d and empty operands,
the list and sublist call forms; each pairwise contraction is one matmul; errors."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.autograd import function as _function
from helpers import check_op, gradcheck_op, lib, FLOATS

EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),                    # implicit output
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("ji,jk", [(3, 2), (3, 4)]),
    ("ba", [(3, 2)]),                               # implicit output sorts: a transpose
    ("ij->ji", [(2, 3)]),
    ("Ab,bC", [(2, 3), (3, 4)]),                    # upper case sorts before lower case
    ("bA", [(3, 2)]),
    ("i,i->", [(5,), (5,)]),
    ("i,i", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("ij->", [(2, 3)]),
    ("ij->i", [(2, 3)]),
    ("ijk->kj", [(2, 3, 4)]),
    ("ii->i", [(3, 3)]),                            # diagonal
    ("ii", [(3, 3)]),                               # trace
    ("ii->", [(4, 4)]),
    ("iij->ij", [(3, 3, 2)]),
    ("iji->j", [(3, 2, 3)]),
    ("iii->i", [(2, 2, 2)]),
    ("iijj->ij", [(2, 2, 3, 3)]),
    ("ii,ij->j", [(3, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bjk", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),  # attention scores
    ("bhqk,bhkd->bhqd", [(2, 3, 4, 6), (2, 3, 6, 5)]),
    ("bi,bj->bij", [(2, 3), (2, 4)]),
    ("ijk,jkl->il", [(2, 3, 4), (3, 4, 5)]),        # two contracted subscripts
    ("ijk,kl,lm->im", [(2, 3, 4), (4, 5), (5, 2)]),  # three operands, left to right
    ("ij,ij,ij->", [(2, 3), (2, 3), (2, 3)]),
    ("ij,ij,ij->ij", [(2, 3), (2, 3), (2, 3)]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 4), (4, 2), (2, 3)]),
    ("i,jk,k->ij", [(2,), (3, 4), (4,)]),
    ("abc,cd->", [(2, 3, 4), (4, 5)]),
    ("abc,bd->ad", [(2, 3, 4), (3, 5)]),            # c summed before the contraction
    ("ij,jk->", [(2, 3), (3, 4)]),
    ("ij,kl->ijkl", [(2, 3), (2, 2)]),
    ("...ij,...jk->...ik", [(5, 2, 3), (5, 3, 4)]),
    ("...ij,...jk->...ik", [(5, 1, 2, 3), (4, 3, 4)]),  # ellipsis broadcast
    ("...ij,...jk", [(2, 3), (3, 4)]),              # ellipsis of no dims
    ("...ij->...ji", [(2, 5, 2, 3)]),
    ("...ij->ij", [(5, 2, 3)]),                     # ellipsis dims summed when the output omits them
    ("...ij", [(5, 2, 3)]),
    ("b...j,jk", [(5, 2, 3), (3, 4)]),
    ("i...,i...->...", [(3, 2, 4), (3, 2, 4)]),
    ("...,...->...", [(2, 3), (3,)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("ij->...ij", [(2, 3)]),                        # ellipsis in the output only
    ("ij,ij->ij", [(2, 1), (2, 4)]),                # size-1 subscripts broadcast
    ("ij,ij->i", [(2, 1), (2, 4)]),
    ("ij,jk", [(2, 1), (3, 4)]),                    # a contracted size-1 subscript
    ("ij,jk", [(2, 3), (1, 4)]),
    ("bij,bjk->bik", [(1, 3, 4), (2, 4, 5)]),
    (",i->i", [(), (3,)]),
    ("->", [()]),
    (",->", [(), ()]),
    ("i,->i", [(4,), ()]),
    ("ij,jk->ik", [(0, 3), (3, 2)]),                # empty
    ("ij,jk->ik", [(2, 0), (0, 2)]),                # empty contraction: zeros
    ("ij->j", [(0, 3)]),
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),       # spaces are ignored
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("eq,shapes", EQUATIONS, ids=str)
def test_einsum(eq, shapes, dtype):
    check_op(lambda *xs: lib(xs[0]).einsum(eq, *xs), inputs=shapes, dtype=dtype)


@pytest.mark.parametrize("eq,shapes", EQUATIONS[::4], ids=str)
def test_einsum_one_operand_requires_grad(eq, shapes):
    if len(shapes) > 1:
        req = [False] + [True] * (len(shapes) - 1)
        check_op(lambda *xs: lib(xs[0]).einsum(eq, *xs), inputs=shapes, requires_grad=req)


def test_einsum_list_and_sublist_forms():
    check_op(lambda a, b: lib(a).einsum("ij,jk", [a, b]), inputs=[(2, 3), (3, 4)])
    check_op(lambda a, b: lib(a).einsum("ij,jk", (a, b)), inputs=[(2, 3), (3, 4)])
    check_op(lambda a, b: lib(a).einsum(a, [0, 1], b, [1, 2], [0, 2]), inputs=[(2, 3), (3, 4)])
    check_op(lambda a, b: lib(a).einsum(a, [0, 1], b, [1, 2]), inputs=[(2, 3), (3, 4)])
    check_op(lambda a, b: lib(a).einsum(a, [..., 30, 1], b, [1, 2], [..., 30, 2]), inputs=[(4, 2, 3), (3, 5)])
    check_op(lambda a: lib(a).einsum(a, [7, 7], []), inputs=[(3, 3)])


def test_einsum_integer():
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    check_op(lambda x, y: lib(x).einsum("ij,jk->ik", x, y), inputs=[a, b])
    check_op(lambda x: lib(x).einsum("ij->", x), inputs=[a.astype(np.int32)])  # sums into int64, as torch
    check_op(lambda x: lib(x).einsum("ii->i", x), inputs=[np.arange(9).reshape(3, 3)])


def test_einsum_gradcheck():
    gradcheck_op(lambda a, b: tg.einsum("bij,bjk->bik", a, b), [(2, 2, 3), (2, 3, 2)])
    gradcheck_op(lambda a, b, c: tg.einsum("ij,jk,k->i", a, b, c), [(2, 3), (3, 2), (2,)])
    gradcheck_op(lambda a: tg.einsum("ii->i", a), [(3, 3)])
    gradcheck_op(lambda a, b: tg.einsum("...ij,...j->...i", a, b), [(2, 1, 2, 3), (4, 3)])
    gradcheck_op(lambda a, b: tg.einsum("ij,jk", a, b), [(2, 1), (3, 2)])


def _count_ops(fn, *args):
    counts = {}

    def hook(ctx, args, out, recorded):
        counts[type(ctx).__name__] = counts.get(type(ctx).__name__, 0) + 1
    _function._forward_hooks.append(hook)
    try:
        fn(*args)
    finally:
        _function._forward_hooks.remove(hook)
    return counts


@pytest.mark.parametrize("eq,shapes,n", [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], 1),
                                         ("ijk,jkl->il", [(2, 3, 4), (3, 4, 5)], 1),
                                         ("bi,bj->bij", [(2, 3), (2, 4)], 1),
                                         ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], 2),
                                         ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)], 1)], ids=str)
def test_einsum_each_pair_is_one_matmul(eq, shapes, n):
    xs = [tg.randn(*s, requires_grad=True) for s in shapes]
    counts = _count_ops(lambda: tg.einsum(eq, *xs))
    assert counts.get("MatMul") == n and "Mul" not in counts, counts
    assert "Sum" not in counts, counts  # no outer product followed by a sum


EINSUM_ERRORS = [
    ("ij,jk", [(2, 3), (4, 4)], r"einsum\(\): subscript j has size 4 in operand 1 \(shape \(4, 4\)\), which does not "
                                r"broadcast with size 3"),
    ("...ij,...jk->...ik", [(5, 2, 3), (4, 3, 4)], r"einsum\(\): ellipsis dim 0 has size 4 in operand 1"),
    ("ii", [(3, 4)], r"einsum\(\): subscript i is repeated for operand 0 but the sizes don't match \(shape \(3, 4\)\)"),
    ("ii->i", [(1, 3)], r"subscript i is repeated for operand 0 but the sizes don't match"),
    ("ij->ii", [(3, 3)], r"einsum\(\): output subscript i appears more than once in the output"),
    ("ij->k", [(3, 3)], r"einsum\(\): output subscript k does not appear in any input operand"),
    ("ijk", [(3, 3)], r"einsum\(\): operand 0 \('ijk'\) has 3 subscripts but shape \(3, 3\) and no ellipsis was given"),
    ("...ijk", [(2, 2)], r"einsum\(\): operand 0 \('...ijk'\) has 3 subscripts but shape \(2, 2\)"),
    ("ij,jk", [(3, 3)], r"einsum\(\): the equation 'ij,jk' names 2 operands but 1 were given"),
    ("i1", [(3, 3)], r"einsum\(\): invalid subscript '1' in operand 0 \('i1'\): subscripts must be in \[a-zA-Z\]"),
    ("ij->j->i", [(2, 2)], r"einsum\(\): invalid subscript '-' in the output"),
    ("...i...", [(3, 3)], r"einsum\(\): operand 0 \('...i...'\) has more than one ellipsis"),
    ("i..j", [(3, 3)], r"einsum\(\): '.' in operand 0 \('i..j'\) must be part of an ellipsis"),
]


@pytest.mark.parametrize("eq,shapes,pattern", EINSUM_ERRORS, ids=[e[0] for e in EINSUM_ERRORS])
def test_einsum_errors(eq, shapes, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        tg.einsum(eq, *[tg.ones(*s) for s in shapes])
    with pytest.raises(RuntimeError):  # torch refuses the same equations
        torch.einsum(eq, *[torch.ones(*s) for s in shapes])


def test_einsum_type_errors():
    with pytest.raises(TypeError, match=r"einsum\(\): expected operands of one dtype, got \(2, 3\) float32, "
                                        r"\(3, 2\) float64"):
        tg.einsum("ij,jk", tg.ones(2, 3), tg.ones(3, 2, dtype=tg.float64))
    with pytest.raises(TypeError, match=r"einsum\(\): operand 1 is a list, not a Tensor"):
        tg.einsum("ij,jk", tg.ones(2, 3), [[1.0, 2.0]] * 3)
    with pytest.raises(ValueError, match=r"einsum: subscript 60 in the operand 0 sublist is not in \[0, 52\)"):
        tg.einsum(tg.ones(2, 3), [0, 60])
    with pytest.raises(RuntimeError, match="must provide at least one operand"):
        tg.einsum("i")


def _random_equation(rng):
    """A random einsum over 1-3 operands: subscripts from 'abcde' (sometimes repeated within an operand, sometimes
    of size 1 in one operand only), sometimes an ellipsis, and an implicit or random explicit output."""
    size = {c: int(rng.integers(1, 4)) for c in "abcde"}
    ell = tuple(int(s) for s in rng.integers(1, 3, size=int(rng.integers(0, 3))))
    terms, shapes = [], []
    for _ in range(int(rng.integers(1, 4))):
        labels = list(rng.choice(list("abcde"), size=int(rng.integers(0, 4)), replace=True))
        shape = [size[c] if rng.random() > 0.15 or labels.count(c) > 1 else 1 for c in labels]
        term = "".join(labels)
        if ell and rng.random() < 0.5:
            k = int(rng.integers(0, len(ell) + 1))
            term, shape = "..." + term, list(ell[len(ell) - k:]) + shape
        terms.append(term)
        shapes.append(tuple(shape))
    eq = ",".join(terms)
    if rng.random() < 0.6:
        seen = sorted(set("".join(terms).replace(".", "")))
        out = [c for c in seen if rng.random() < 0.5]
        rng.shuffle(out)
        eq += "->" + ("..." if "..." in eq and rng.random() < 0.7 else "") + "".join(out)
    return eq, shapes


@pytest.mark.parametrize("seed", range(60))
def test_einsum_random_equations(seed):
    eq, shapes = _random_equation(np.random.default_rng(seed))
    for dtype in FLOATS:
        check_op(lambda *xs: lib(xs[0]).einsum(eq, *xs), inputs=shapes, dtype=dtype)
