"""One LSTM or GRU step's pointwise part as a single node (torch's _thnn_fused_lstm_cell / _thnn_fused_gru_cell): the
gates after the step's two GEMMs (xw = W_ih x + b_ih, hw = W_hh h + b_hh), in gate order i, f, g, o and r, z, n.

Composed of plain ops, an LSTM step recorded a dozen nodes (chunk, three sigmoids, two tanhs, the products and sums),
and in a recurrent loop the per-node overhead outweighed the arithmetic. The formulas are the header of
csrc/cpu/rnn_cell.cpp (kernels lstm_cell_* / gru_cell_*, reference in backend/reference.py).

Their double backward reuses what the first backward already reads: the activated gates. _SavedActivation is a node
whose value is those saved gates and whose gradient is the activation's derivative written in its output
(sigmoid' = s (1 - s), tanh' = 1 - t^2), so the backward can be re-expressed in differentiable ops without keeping
the pre-activations alive for first-order training."""
from ..autograd.function import Function
from ..backend import kernels, xp_of
from ..tensor import Tensor
from .elementwise import promote_types, relu, tanh
from .graph import vjp_by_recompute
from .util import is_float
from .matmul import linear
from .movement import cat, stack


def _dev(a):
    return kernels.device_type(a)


def _act_grad(xp, out, kinds):
    """The activation's derivative from its output, per equal block of the last dim (kinds: 'sigmoid' / 'tanh')."""
    if len(kinds) == 1:
        return out * (1 - out) if kinds[0] == "sigmoid" else 1 - out * out
    w = out.shape[-1] // len(kinds)
    return xp.concatenate([_act_grad(xp, out[..., k * w:(k + 1) * w], (kind,)) for k, kind in enumerate(kinds)], -1)


def _act_grad_graph(out, kinds):
    if len(kinds) == 1:
        return out * (1 - out) if kinds[0] == "sigmoid" else 1 - out * out
    return cat([_act_grad_graph(part, (kind,)) for part, kind in zip(out.chunk(len(kinds), -1), kinds)], -1)


class _SavedActivation(Function):
    """act(a + b) whose value is already known (``out``, saved by a fused cell): forward returns it without reading
    a or b, and the gradient to both is g act'(out). Used only inside the cells' backward_graph."""

    def forward(self, a, b, out, kinds):
        self.kinds = kinds
        self.save_for_backward(out)
        return out

    def backward(self, g):
        out, = self.saved_tensors
        d = g * _act_grad(xp_of(out), out, self.kinds)
        return d, d, None, None

    def backward_graph(self, g):
        d = g * _act_grad_graph(self.output(self.saved_tensors[0]), self.kinds)
        return d, d, None, None


_LSTM_KINDS = ("sigmoid", "sigmoid", "tanh", "sigmoid")


class LstmCell(Function):
    """hc = [h'; c'] (2, N, H) from xw, hw (N, 4H) and c (N, H)."""

    def forward(self, xw, hw, c):
        hc, act = kernels.get("lstm_cell_forward", _dev(c))(xw, hw, c)
        self.save_for_backward(act, c, hc)
        return hc

    def backward(self, g):
        act, c, hc = self.saved_tensors
        da, dc = kernels.get("lstm_cell_backward", _dev(c))(g, act, c, hc[1])
        return da, da, dc

    def backward_graph(self, g):
        act, c, _ = self.saved_tensors
        # xw and hw feed only the activation node, which never reads their values: act (their shape) stands in
        gates = _SavedActivation.apply(self.input(0, act), self.input(1, act), act, _LSTM_KINDS)
        i, f, gg, o = gates.chunk(4, -1)
        c0 = self.input(2, c)
        c1 = f * c0 + i * gg
        t = c1.tanh()
        dh, dc1 = g[0], g[1]
        dC = dc1 + dh * o * (1 - t * t)
        da = cat([dC * gg * i * (1 - i), dC * c0 * f * (1 - f), dC * i * (1 - gg * gg), dh * t * o * (1 - o)], -1)
        return da, da, dC * f


class GruCell(Function):
    """h' (N, H) from xw, hw (N, 3H; hw includes b_hh) and h (N, H)."""

    def forward(self, xw, hw, h):
        hn, act = kernels.get("gru_cell_forward", _dev(h))(xw, hw, h)
        self.save_for_backward(act, hw, h)
        return hn

    def backward(self, g):
        act, hw, h = self.saved_tensors
        return kernels.get("gru_cell_backward", _dev(h))(g, act, hw, h)

    def backward_graph(self, g):
        act, hw, h = self.saved_tensors
        H = h.shape[1]
        xw_t, hw_t, h0 = self.input(0, act), self.input(1, hw), self.input(2, h)   # (act stands in for xw)
        r, z = _SavedActivation.apply(xw_t[:, :2 * H], hw_t[:, :2 * H], act[:, :2 * H], ("sigmoid",)).chunk(2, -1)
        hw_n = hw_t[:, 2 * H:]
        n = _SavedActivation.apply(xw_t[:, 2 * H:], r * hw_n, act[:, 2 * H:], ("tanh",))
        dn = g * (1 - z) * (1 - n * n)
        dz = g * (h0 - n) * z * (1 - z)
        dr = dn * hw_n * r * (1 - r)
        return cat([dr, dz, dn], -1), cat([dr, dz, dn * r], -1), g * z


def _check(op, xw, hw, state, gates):
    for name, t in (("xw", xw), ("hw", hw), ("state", state)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if state.ndim != 2 or xw.shape != hw.shape or tuple(xw.shape) != (state.shape[0], gates * state.shape[1]):
        raise ValueError(f"{op}: expected xw and hw of shape (N, {gates}H) and a state of shape (N, H), got xw "
                         f"{tuple(xw.shape)}, hw {tuple(hw.shape)}, state {tuple(state.shape)}")
    dt = promote_types(promote_types(xw.dtype, hw.dtype), state.dtype)
    if not is_float(dt):
        raise TypeError(f"{op}: xw, hw and the state must be floating point, got {xw.dtype}, {hw.dtype}, "
                        f"{state.dtype}")
    # mixed only under autocast (the GEMMs in half precision, the state in float32): as the composed step, which
    # promoted, the cell runs in the widest of them
    return [t if t.dtype == dt else t.to(dt) for t in (xw, hw, state)]


def lstm_cell(xw, hw, c):
    """(h', c') of one LSTM step from its gate pre-activations xw + hw (N, 4H, order i, f, g, o) and c (N, H)."""
    xw, hw, c = _check("lstm_cell", xw, hw, c, 4)
    hc = LstmCell.apply(xw, hw, c)
    return hc[0], hc[1]


def gru_cell(xw, hw, h):
    """h' of one GRU step: xw = W_ih x + b_ih and hw = W_hh h + b_hh (N, 3H, order r, z, n), h (N, H)."""
    xw, hw, h = _check("gru_cell", xw, hw, h, 3)
    return GruCell.apply(xw, hw, h)


# ------------------------------------------------------------------------------------------- whole sequence
# One layer and direction over the whole sequence as one node, as torch's CPU (oneDNN) and cuDNN RNNs: the time loop
# runs on arrays, and the backward sums the weight gradient of all steps in one GEMM, dW_hh = sum_t da_t^T h_{t-1},
# where a node per step added a (G H, H_out) product of N rows into the weight's gradient L times.
def _mm(a, b, bias=None):
    return kernels.get("gemm", _dev(a))(a, b, bias)


def _packed(b, m):
    """b prepared once for the step loop's m-row products (the "pack_b" kernel: MKL-packed on the CPU)."""
    return kernels.get("pack_b", _dev(b))(b, m)


def _order(L, reverse):
    return range(L - 1, -1, -1) if reverse else range(L)


def _previous(ys, h0, reverse):
    """The state each step read: h_{t-1} (h0 first), in step order t = 0..L-1 of the array."""
    xp = xp_of(ys)
    if reverse:
        return xp.concatenate([ys[1:], h0[None]], 0)
    return xp.concatenate([h0[None], ys[:-1]], 0)


def _rows(a):
    return a.reshape(-1, a.shape[-1])


class RecurrentLayer(Function):
    """mode 'LSTM', 'GRU', 'RNN_TANH' or 'RNN_RELU' over xw = W_ih x + b_ih (L, N, G H) from h0 (N, H_out) (and c0
    (N, H) for LSTM) with W_hh (G H, H_out), b_hh (G H,) or None, and LSTM's projection W_hr (H_out, H) or None.
    The output is the step outputs (L, N, H_out), flattened and, for LSTM, followed by the last cell state (N, H):
    one array, since a node has one output (recurrent_layer splits it)."""

    def forward(self, xw, h0, c0, w_hh, b_hh, w_hr, mode, reverse):
        self.mode, self.reverse = mode, reverse
        xp, dev = xp_of(xw), _dev(xw)
        L, N = xw.shape[:2]
        Hout = h0.shape[1]
        lstm = mode == "LSTM"
        H = c0.shape[1] if lstm else Hout
        out = xp.empty(L * N * Hout + (N * H if lstm else 0), xw.dtype)
        ys = out[:L * N * Hout].reshape(L, N, Hout)
        h, c = h0, c0
        saved = ()
        hh = _packed(w_hh.T, N)
        if lstm:
            cell = kernels.get("lstm_cell_forward", dev)
            acts, cs = xp.empty((L, N, 4 * H), xw.dtype), xp.empty((L, N, H), xw.dtype)
            hraw = None if w_hr is None else xp.empty((L, N, H), xw.dtype)
            hr = None if w_hr is None else _packed(w_hr.T, N)
            for t in _order(L, reverse):
                hc, acts[t] = cell(xw[t], hh(h, b_hh), c)
                cs[t] = hc[1]
                c = cs[t]
                if w_hr is None:
                    ys[t] = hc[0]
                else:
                    hraw[t] = hc[0]
                    ys[t] = hr(hc[0])
                h = ys[t]
            out[L * N * Hout:] = c.reshape(-1)
            saved = (acts, cs, hraw)
        elif mode == "GRU":
            cell = kernels.get("gru_cell_forward", dev)
            acts, hws = xp.empty((L, N, 3 * H), xw.dtype), xp.empty((L, N, 3 * H), xw.dtype)
            for t in _order(L, reverse):
                hws[t] = hh(h, b_hh)
                ys[t], acts[t] = cell(xw[t], hws[t], h)
                h = ys[t]
            saved = (acts, hws)
        else:
            for t in _order(L, reverse):
                pre = xw[t] + hh(h, b_hh)
                ys[t] = xp.tanh(pre) if mode == "RNN_TANH" else xp.maximum(pre, 0)
                h = ys[t]
        self.save_for_backward(xw, h0, c0, w_hh, b_hh, w_hr, ys, *saved)
        return out

    def backward(self, g):
        xw, h0, c0, w_hh, b_hh, w_hr, ys, *saved = self.saved_tensors
        mode, reverse = self.mode, self.reverse
        xp, dev = xp_of(xw), _dev(xw)
        L, N, Hout = ys.shape
        gy = g[:L * N * Hout].reshape(L, N, Hout)
        dxw = xp.empty_like(xw)
        dh = xp.zeros_like(h0)
        dc = None
        hh = _packed(w_hh, N)
        # the state each step read: the GRU's step backward takes it, and so does the weight gradient
        hprev = _previous(ys, h0, reverse) if mode == "GRU" or self.needs_input_grad[3] else None
        if mode == "LSTM":
            acts, cs, hraw = saved
            H = cs.shape[2]
            cell = kernels.get("lstm_cell_backward", dev)
            dc = g[L * N * Hout:].reshape(N, H)
            dhc = xp.empty((2, N, H), xw.dtype)
            dhs = None if w_hr is None else xp.empty_like(ys)
            hr = None if w_hr is None else _packed(w_hr, N)
            for t in _order(L, not reverse):
                dh = gy[t] + dh
                if w_hr is None:
                    dhc[0] = dh
                else:
                    dhs[t] = dh
                    dhc[0] = hr(dh)
                dhc[1] = dc
                c_prev = c0 if t == (L - 1 if reverse else 0) else cs[t + 1 if reverse else t - 1]
                dxw[t], dc = cell(dhc, acts[t], c_prev, cs[t])
                dh = hh(dxw[t])
            dgates = dxw
        elif mode == "GRU":
            acts, hws = saved
            cell = kernels.get("gru_cell_backward", dev)
            dgates = xp.empty_like(hws)
            for t in _order(L, not reverse):
                dxw[t], dgates[t], dh_direct = cell(gy[t] + dh, acts[t], hws[t], hprev[t])
                dh = dh_direct + hh(dgates[t])
        else:
            for t in _order(L, not reverse):
                d = gy[t] + dh
                dxw[t] = d * (1 - ys[t] * ys[t]) if mode == "RNN_TANH" else d * (ys[t] > 0)
                dh = hh(dxw[t])
            dgates = dxw
        nxw, nh0, nc0, nw, nb, nr = self.needs_input_grad[:6]
        dw = _mm(_rows(dgates).T, _rows(hprev)) if nw else None
        db = dgates.sum((0, 1)) if nb else None
        dr = _mm(_rows(dhs).T, _rows(saved[2])) if nr else None
        return (dxw if nxw else None), (dh if nh0 else None), (dc if nc0 else None), dw, db, dr, None, None

    def backward_graph(self, g):
        xw, h0, c0, w_hh, b_hh, w_hr = self.saved_tensors[:6]
        mode, reverse = self.mode, self.reverse
        inputs = [None if a is None else self.input(i, a) for i, a in enumerate((xw, h0, c0, w_hh, b_hh, w_hr))]
        return vjp_by_recompute(lambda *xs: _composed(mode, reverse, *xs), inputs, g) + (None, None)


def _composed(mode, reverse, xw, h0, c0, w_hh, b_hh, w_hr):
    """RecurrentLayer's output in per-step differentiable ops (its double backward differentiates this)."""
    steps = xw.unbind(0)
    out = [None] * len(steps)
    h, c = h0, c0
    for t in _order(len(steps), reverse):
        if mode == "LSTM":
            h, c = lstm_cell(steps[t], linear(h, w_hh, b_hh), c)
            h = h if w_hr is None else linear(h, w_hr)
        elif mode == "GRU":
            h = gru_cell(steps[t], linear(h, w_hh, b_hh), h)
        else:
            h = (tanh if mode == "RNN_TANH" else relu)(steps[t] + linear(h, w_hh, b_hh))
        out[t] = h
    ys = stack(out, 0).reshape(-1)
    return cat([ys, c.reshape(-1)], 0) if mode == "LSTM" else ys


def recurrent_layer(mode, xw, h0, c0, w_hh, b_hh, w_hr, reverse):
    """(outputs (L, N, H_out), h_n, c_n or None) of one layer and direction (RecurrentLayer)."""
    L, N = xw.shape[:2]
    Hout = h0.shape[1]
    out = RecurrentLayer.apply(xw, h0, c0, w_hh, b_hh, w_hr, mode, reverse)
    ys = out[:L * N * Hout].view(L, N, Hout) if mode == "LSTM" else out.view(L, N, Hout)
    c_n = out[L * N * Hout:].view(N, c0.shape[1]) if mode == "LSTM" else None
    return ys, ys[0 if reverse else L - 1], c_n
