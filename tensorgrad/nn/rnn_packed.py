"""The time loop of one recurrent layer and direction over a PackedSequence's rows (nn/rnn.py's RNNBase calls it).

Packed rows are time-major with the sequences sorted by decreasing length, so at step t the running sequences are
the first batch_sizes[t] rows of the batch: the hidden state shrinks from the bottom as sequences end (forward
direction) or grows at the bottom as they start (reverse direction, which begins at each sequence's own last
step). A row leaving the state is that sequence's final state; h_n gathers them back in batch order."""
from ..ops.movement import cat, split


def packed_steps(xw, batch_sizes):
    """xw (sum(batch_sizes), *) as its per-step row blocks (views; the walk adds each block's gradient into xw's
    at its rows, Function.slab)."""
    return split(xw, batch_sizes, 0)


def run_packed(step, xw, batch_sizes, h0, c0, reverse):
    """step(xw_t, h, c) -> (h, c) over the packed input projection xw; h0 / c0 (B, *) hold each sorted sequence's
    initial state (c0 None but for LSTM). Returns (outputs (sum(batch_sizes), H_out) in packed row order, h_n,
    c_n), h_n / c_n (B, *) being each sequence's state after its last step in this direction."""
    sizes = [int(b) for b in batch_sizes]
    xs = packed_steps(xw, sizes)
    out = [None] * len(sizes)
    take = lambda s, a, b: None if s is None else s[a:b]  # noqa: E731
    if reverse:
        h, c = take(h0, 0, sizes[-1]), take(c0, 0, sizes[-1])
        for t in range(len(sizes) - 1, -1, -1):
            n = h.shape[0]
            if sizes[t] > n:  # sequences whose last step is t join, from their initial state
                h = cat([h, h0[n:sizes[t]]], 0)
                c = None if c is None else cat([c, c0[n:sizes[t]]], 0)
            h, c = step(xs[t], h, c)
            out[t] = h
        return cat(out, 0), h, c
    done_h, done_c = [], []
    h, c = h0, c0
    for t, b in enumerate(sizes):
        if b < h.shape[0]:  # sequences that ended at step t - 1 leave with their final state
            done_h.append(h[b:])
            done_c.append(take(c, b, None))
            h, c = h[:b], take(c, 0, b)
        h, c = step(xs[t], h, c)
        out[t] = h
    # the rows that left last are the lowest: reversing the departures restores batch order
    h_n = cat([h] + done_h[::-1], 0)
    c_n = None if c is None else cat([c] + done_c[::-1], 0)
    return cat(out, 0), h_n, c_n
