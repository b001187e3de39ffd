"""einsum as a composite of ordinary differentiable ops (no backward of its own).

Each operand first loses its repeated subscripts (a diagonal) and the subscripts
that appear nowhere else (summed). The operands are then contracted left to right, each pair by ONE batched
matmul: the subscripts both share and still need are batch dims, those they share and no longer need are the
inner dim, the rest are the rows / columns (several subscripts reshaped into one). Size-1 dims broadcast as in
PyTorch: batch dims through matmul's broadcasting, a contracted size-1 dim by summing the other side first.
"""
import math

import numpy as np

from ..amp.autocast import cast_lower
from .indexing import diagonal
from ..tensor import Tensor


def _letters_of_sublist(sub, where):
    """torch's sublist format: ints 0-25 are 'A'-'Z', 26-51 'a'-'z'; Ellipsis is '...'."""
    out = []
    for s in sub:
        if s is Ellipsis:
            out.append("...")
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < 52:
            out.append(chr(ord("A") + s) if s < 26 else chr(ord("a") + s - 26))
        else:
            raise ValueError(f"einsum: subscript {s!r} in the {where} sublist is not in [0, 52) nor Ellipsis")
    return "".join(out)


def _from_sublists(args):
    ops, terms = [], []
    rest = list(args)
    while len(rest) >= 2:
        ops.append(rest.pop(0))
        terms.append(_letters_of_sublist(rest.pop(0), f"operand {len(ops) - 1}"))
    eq = ",".join(terms)
    if rest:
        eq += "->" + _letters_of_sublist(rest[0], "output")
    return eq, ops


def _split_term(term, what):
    """'ab...c' -> ['a', 'b', '...', 'c'], checking characters and a single ellipsis."""
    labels, i = [], 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i:i + 3] != "...":
                raise RuntimeError(f"einsum(): '.' in {what} must be part of an ellipsis '...'")
            if "..." in labels:
                raise RuntimeError(f"einsum(): {what} has more than one ellipsis")
            labels.append("...")
            i += 3
            continue
        if not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise RuntimeError(f"einsum(): invalid subscript {c!r} in {what}: subscripts must be in [a-zA-Z]")
        labels.append(c)
        i += 1
    return labels


def _parse(equation, operands):
    """Per operand, one label per dim (ellipsis dims become ints 0..E-1, right-aligned), and the output labels."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise RuntimeError(f"einsum(): the equation {equation!r} names {len(terms)} operands but {len(operands)} "
                           "were given")
    split = [_split_term(t, f"operand {i} ({t!r})") for i, t in enumerate(terms)]
    n_ell = 0
    for i, (labels, op) in enumerate(zip(split, operands)):
        named = len(labels) - ("..." in labels)
        if ("..." in labels and named > op.ndim) or ("..." not in labels and named != op.ndim):
            raise RuntimeError(f"einsum(): operand {i} ({terms[i]!r}) has {named} subscripts but shape "
                               f"{tuple(op.shape)}" + ("" if "..." in labels else " and no ellipsis was given"))
        if "..." in labels:
            n_ell = max(n_ell, op.ndim - named)
    per_op = []
    for labels, op in zip(split, operands):
        out = []
        for lab in labels:
            if lab == "...":
                k = op.ndim - (len(labels) - 1)
                out.extend(range(n_ell - k, n_ell))
            else:
                out.append(lab)
        per_op.append(out)
    seen = [lab for labels in per_op for lab in labels]
    if arrow:
        out_labels = []
        for lab in _split_term(rhs, f"the output ({rhs!r})"):
            if lab == "...":
                out_labels.extend(range(n_ell))
            elif lab in out_labels:
                raise RuntimeError(f"einsum(): output subscript {lab} appears more than once in the output")
            elif lab not in seen:
                raise RuntimeError(f"einsum(): output subscript {lab} does not appear in any input operand")
            else:
                out_labels.append(lab)
    else:  # implicit: ellipsis dims, then the letters seen exactly once, in alphabetical (ASCII) order
        once = {lab for lab in seen if isinstance(lab, str) and seen.count(lab) == 1}
        out_labels = list(range(n_ell)) + sorted(once)
    return per_op, out_labels


def _check_sizes(per_op, operands):
    """A label has one size over all operands, where 1 broadcasts against n (but not within one operand)."""
    size = {}
    for i, (labels, op) in enumerate(zip(per_op, operands)):
        for lab in set(labels):
            if len({n for x, n in zip(labels, op.shape) if x == lab}) > 1:  # a diagonal needs equal sizes, 1 included
                raise RuntimeError(f"einsum(): subscript {lab} is repeated for operand {i} but the sizes don't match "
                                   f"(shape {tuple(op.shape)})")
        for lab, n in zip(labels, op.shape):
            prev = size.get(lab, 1)
            if n != 1 and prev != 1 and n != prev:
                what = f"subscript {lab}" if isinstance(lab, str) else f"ellipsis dim {lab}"
                raise RuntimeError(f"einsum(): {what} has size {n} in operand {i} (shape {tuple(op.shape)}), which "
                                   f"does not broadcast with size {prev} seen before")
            size[lab] = n if prev == 1 else prev
    return size


def _diagonals(t, labels):
    """Collapse each repeated label of one operand onto its diagonal (which becomes the last dim)."""
    labels = list(labels)
    for lab in list(dict.fromkeys(labels)):
        pos = [p for p, x in enumerate(labels) if x == lab]
        while len(pos) > 1:
            t = diagonal(t, 0, pos[0], pos[1])
            labels = [x for p, x in enumerate(labels) if p not in pos[:2]] + [lab]
            pos = [p for p, x in enumerate(labels) if x == lab]
    return t, labels


def _sum_labels(t, labels, drop):
    dims = [p for p, lab in enumerate(labels) if lab in drop]
    if not dims:
        return t, labels
    return t.sum(dims), [lab for lab in labels if lab not in drop]


def _contract(a, la, b, lb, keep):
    """One batched matmul: a -> (batch, rows, inner), b -> (batch, inner, cols); returns the result and its labels
    (batch, then a's free labels, then b's)."""
    a, la = _sum_labels(a, la, {x for x in la if x not in lb and x not in keep})
    b, lb = _sum_labels(b, lb, {x for x in lb if x not in la and x not in keep})
    batch = [x for x in la if x in lb and x in keep]
    inner = [x for x in la if x in lb and x not in keep]
    fa = [x for x in la if x not in lb]
    fb = [x for x in lb if x not in la]
    # A contracted dim of size 1 on one side only: sum the other side over it first (sum_j a_0 b_j = a_0 sum_j b_j).
    for x in inner:
        na, nb = a.shape[la.index(x)], b.shape[lb.index(x)]
        if na != nb and na == 1:
            b = b.sum(lb.index(x), keepdim=True)
        elif na != nb and nb == 1:
            a = a.sum(la.index(x), keepdim=True)
    sa = dict(zip(la, a.shape))
    sb = dict(zip(lb, b.shape))
    rows = int(math.prod([sa[x] for x in fa]))
    cols = int(math.prod([sb[x] for x in fb]))
    k = int(math.prod([sa[x] for x in inner]))
    a2 = a.permute([la.index(x) for x in batch + fa + inner]).reshape([sa[x] for x in batch] + [rows, k])
    b2 = b.permute([lb.index(x) for x in batch + inner + fb]).reshape([sb[x] for x in batch] + [k, cols])
    out = a2 @ b2
    nbatch = out.shape[:len(batch)]
    return out.reshape(list(nbatch) + [sa[x] for x in fa] + [sb[x] for x in fb]), batch + fa + fb


def einsum(*args):
    """torch.einsum(equation, *operands) (operands may also come as one list), or the sublist form
    einsum(op0, [0, 1], op1, [1, 2], [0, 2])."""
    if not args:
        raise TypeError("einsum(): expected an equation and operands")
    if isinstance(args[0], str):
        equation, operands = args[0], list(args[1:])
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = list(operands[0])
    else:
        equation, operands = _from_sublists(args)
    if not operands:
        raise RuntimeError("einsum(): must provide at least one operand")
    for i, op in enumerate(operands):
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum(): operand {i} is a {type(op).__name__}, not a Tensor")
    operands = cast_lower(*operands)  # its products are matmuls, which autocast runs in the lower precision
    if len({op.dtype for op in operands}) > 1:
        raise TypeError("einsum(): expected operands of one dtype, got " +
                        ", ".join(f"{tuple(op.shape)} {op.dtype}" for op in operands))
    per_op, out_labels = _parse(equation, operands)
    _check_sizes(per_op, operands)

    # Repeated labels -> diagonals; labels found in one operand only (and not in the output) -> summed now.
    counts = {}
    for labels in per_op:
        for lab in set(labels):
            counts[lab] = counts.get(lab, 0) + 1
    ts, ls = [], []
    for t, labels in zip(operands, per_op):
        t, labels = _diagonals(t, labels)
        t, labels = _sum_labels(t, labels, {x for x in labels if counts[x] == 1 and x not in out_labels})
        ts.append(t)
        ls.append(labels)

    result, labels = ts[0], ls[0]
    for j in range(1, len(ts)):
        keep = set(out_labels).union(*ls[j + 1:])
        result, labels = _contract(result, labels, ts[j], ls[j], keep)
    result, labels = _sum_labels(result, labels, {x for x in labels if x not in out_labels})
    return result.permute([labels.index(x) for x in out_labels]) if result.ndim else result
