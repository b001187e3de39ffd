"""Recurrent layers as torch.nn: RNN, LSTM, GRU (multi-layer, bidirectional, batch_first, inter-layer dropout, LSTM
proj_size) and the single-step cells RNNCell, LSTMCell, GRUCell, with PyTorch's constructor arguments, parameter
names / shapes / order (torch state_dicts load as they are), initialisation and forward semantics.

Everything is a composite of differentiable ops; the pointwise part of an LSTM or GRU step is one fused node
(ops/rnn_cell.py). The input projection W_ih x + b_ih of a layer and direction is one
matmul over all time steps before the time loop; only the hidden projection W_hh h runs per step. Gate order is
torch's: i, f, g, o for LSTM and r, z, n for GRU with n = tanh(W_in x + b_in + r * (W_hn h + b_hn))."""
import math
import numbers
import warnings

from .. import factories
from ..ops.elementwise import relu, tanh
from ..ops.matmul import linear
from ..ops.movement import cat, stack
from ..amp.autocast import is_autocast_enabled
from ..ops.rnn_cell import gru_cell, lstm_cell, recurrent_layer
from ..tensor import Tensor
from . import functional as F
from . import init
from .layers import _empty
from .module import Module, Parameter
from .rnn_packed import run_packed
from .utils.rnn import PackedSequence

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


# ------------------------------------------------------------------------------------------------ one step
def _steps(xw):
    """xw (L, ...) as L per-step views; the walk adds each one's gradient into xw's at its index (Function.slab)."""
    return xw.unbind(0)


# xw is the precomputed input projection W_ih x + b_ih for this step; the cells and the layers share these.
def _rnn_step(xw, h, w_hh, b_hh, act):
    return act(xw + linear(h, w_hh, b_hh))


def _lstm_step(xw, h, c, w_hh, b_hh, w_hr):
    h, c = lstm_cell(xw, linear(h, w_hh, b_hh), c)
    return (h if w_hr is None else linear(h, w_hr)), c


def _gru_step(xw, h, w_hh, b_hh):
    return gru_cell(xw, linear(h, w_hh, b_hh), h)


def _act(nonlinearity, owner):
    if nonlinearity == "tanh":
        return tanh
    if nonlinearity == "relu":
        return relu
    raise ValueError(f"{owner}: unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'.")


def _check_dtype(owner, x, w):
    if x.dtype != w.dtype:
        raise ValueError(f"{owner}: input dtype {x.dtype} (shape {tuple(x.shape)}) does not match weight dtype "
                         f"{w.dtype}; convert the input with .to({w.dtype}) or the module with .to({x.dtype})")


def _check_hidden(owner, name, h, want):
    if not isinstance(h, Tensor):
        raise TypeError(f"{owner}: {name} must be a Tensor, got {type(h).__name__}")
    if tuple(h.shape) != tuple(want):
        raise RuntimeError(f"{owner}: expected {name} of shape {tuple(want)}, got {tuple(h.shape)}")


# ----------------------------------------------------------------------------------------------- RNNBase
class RNNBase(Module):
    """The multi-layer recurrent network shared by RNN, LSTM and GRU; mode is 'LSTM', 'GRU', 'RNN_TANH' or
    'RNN_RELU'. Parameters per layer k and direction: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}
    (and weight_hr_l{k} for an LSTM with proj_size), '_reverse' suffixed for the backward direction."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if mode not in _GATES:
            raise ValueError(f"RNNBase: unrecognized RNN mode {mode!r}")
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1):
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability of "
                             f"an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}")
        for arg, v in (("hidden_size", hidden_size), ("num_layers", num_layers), ("input_size", input_size)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name}: {arg} should be of type int, got: {type(v).__name__}")
        if hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be greater than zero, got {hidden_size}")
        if num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be greater than zero, got {num_layers}")
        if proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections, "
                             f"got {proj_size}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size, got proj_size={proj_size} "
                             f"and hidden_size={hidden_size}")
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.mode, self.input_size, self.hidden_size, self.num_layers = mode, input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        gate_size = _GATES[mode] * hidden_size
        real_hidden = proj_size if proj_size > 0 else hidden_size
        num_dirs = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else real_hidden * num_dirs
            for d in range(num_dirs):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (gate_size, layer_in)), ("weight_hh", (gate_size, real_hidden))]
                if bias:
                    shapes += [("bias_ih", (gate_size,)), ("bias_hh", (gate_size,))]
                if proj_size > 0:
                    shapes.append(("weight_hr", (proj_size, hidden_size)))
                for pname, shape in shapes:
                    setattr(self, pname + suffix, Parameter(_empty(shape, device, dtype)))
                    self._flat_weights_names.append(pname + suffix)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def flatten_parameters(self):
        """torch packs the weights into one cuDNN buffer here; there is no such buffer, so nothing to do."""

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        w = self._flat_weights
        return [w[i:i + per] for i in range(0, len(w), per)]

    def _name(self):
        return "RNN" if self.mode.startswith("RNN") else self.mode

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout:g}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---------------------------------------------------------------------------------------- forward
    def _params(self, layer, d):
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        get = lambda n: getattr(self, n + suffix) if self.bias or not n.startswith("bias") else None  # noqa: E731
        w_hr = getattr(self, "weight_hr" + suffix) if self.proj_size > 0 else None
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), w_hr

    def _check_input(self, x, packed=False):
        """x is the input, or a PackedSequence's data when packed."""
        name = self._name()
        if not isinstance(x, Tensor):
            what = "a PackedSequence's data" if packed else "input"
            raise TypeError(f"{name}: {what} must be a Tensor or a PackedSequence, got {type(x).__name__}")
        if packed and x.ndim != 2:
            raise RuntimeError(f"{name}: a PackedSequence's data must be 2-D (packed steps, input_size), got shape "
                               f"{tuple(x.shape)}")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {x.ndim}D input of shape "
                             f"{tuple(x.shape)} instead")
        if x.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {x.shape[-1]} (input shape {tuple(x.shape)})")
        if x.shape[1 if x.ndim == 3 and self.batch_first else 0] == 0:
            raise RuntimeError(f"{name}: expected sequence length to be larger than 0, got input of shape "
                               f"{tuple(x.shape)}")
        _check_dtype(name, x, self.weight_ih_l0)

    def _hidden(self, hx, x, batched, n, size, label, packed=False):
        """hx checked against (layers * dirs, N, size) -- or (layers * dirs, size) for unbatched input -- and
        returned batched; zeros when None. x is the input, or a PackedSequence's data when packed."""
        name = self._name()
        rows = self.num_layers * (2 if self.bidirectional else 1)
        if hx is None:
            return factories.zeros(rows, n, size, dtype=x.dtype, device=x.device)
        if not isinstance(hx, Tensor):
            raise TypeError(f"{name}: {label} must be a Tensor, got {type(hx).__name__}")
        if hx.ndim != (3 if batched else 2):
            what = (f"a PackedSequence of {n} sequences" if packed else
                    f"{'batched 3' if batched else 'unbatched 2'}-D input of shape {tuple(x.shape)}")
            raise RuntimeError(f"{name}: for {what}, {label} should be {3 if batched else 2}-D, got shape "
                               f"{tuple(hx.shape)}")
        _check_hidden(name, label, hx, (rows, n, size) if batched else (rows, size))
        if hx.dtype != x.dtype:
            raise ValueError(f"{name}: {label} dtype {hx.dtype} does not match input dtype {x.dtype}")
        return hx if batched else hx.unsqueeze(1)

    def _direction(self, x, layer, d):
        """(the input projection W_ih x + b_ih of x for one layer and direction, its step (xw_t, h, c) -> (h, c),
        c being None but for LSTM)."""
        w_ih, w_hh, b_ih, b_hh, w_hr = self._params(layer, d)
        if self.mode != "GRU" and b_ih is not None:
            # both biases add to the same pre-activation, so they ride along with the one big input matmul
            b_ih, b_hh = b_ih + b_hh, None
        act = relu if self.mode == "RNN_RELU" else tanh
        if self.mode == "LSTM":
            step = lambda xw, h, c: _lstm_step(xw, h, c, w_hh, b_hh, w_hr)  # noqa: E731
        elif self.mode == "GRU":
            step = lambda xw, h, c: (_gru_step(xw, h, w_hh, b_hh), None)  # noqa: E731
        else:
            step = lambda xw, h, c: (_rnn_step(xw, h, w_hh, b_hh, act), None)  # noqa: E731
        return linear(x, w_ih, b_ih), step

    def _run_direction(self, x, layer, d, h, c):
        """One layer, one direction over the time-major sequence x (L, N, *); returns (outputs (L, N, H_out), h, c)."""
        xw, step = self._direction(x, layer, d)
        if not is_autocast_enabled():   # (under autocast each step's GEMMs cast, so the steps run as ops)
            _, w_hh, _, b_hh, w_hr = self._params(layer, d)
            return recurrent_layer(self.mode, xw, h, c, w_hh, b_hh if self.mode == "GRU" else None, w_hr, bool(d))
        xw = _steps(xw)
        out = [None] * len(xw)
        for t in (range(len(xw) - 1, -1, -1) if d else range(len(xw))):
            h, c = step(xw[t], h, c)
            out[t] = h
        return stack(out, 0), h, c

    def _run_packed_direction(self, x, batch_sizes, layer, d, h, c):
        """_run_direction over a PackedSequence's rows x (sum(batch_sizes), *), h / c holding the sorted batch:
        each sequence runs for its own length only (rnn_packed.run_packed)."""
        xw, step = self._direction(x, layer, d)
        return run_packed(step, xw, batch_sizes, h, c, reverse=bool(d))

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        if packed:
            # packed rows are already time-major; hx and h_n are in the caller's batch order, the loop's in the
            # sorted order, so sorted_indices / unsorted_indices permute them on the way in and out
            x, batch_sizes, sorted_indices, unsorted_indices = input
            self._check_input(x, packed=True)
            batched, n = True, int(batch_sizes[0])
            run = lambda x, layer, d, h, c: self._run_packed_direction(x, batch_sizes, layer, d, h, c)  # noqa: E731
        else:
            self._check_input(input)
            batched = input.ndim == 3
            x = input if not batched else input.transpose(0, 1) if self.batch_first else input
            if not batched:
                x = x.unsqueeze(1)
            n, run = x.shape[1], self._run_direction
        ref = x if packed else input
        out_size = self.proj_size if self.proj_size > 0 else self.hidden_size
        lstm = self.mode == "LSTM"
        if lstm:
            if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
                raise TypeError(f"LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
            h0 = self._hidden(None if hx is None else hx[0], ref, batched, n, out_size, "h_0", packed)
            c0 = self._hidden(None if hx is None else hx[1], ref, batched, n, self.hidden_size, "c_0", packed)
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{self._name()}: hx must be a Tensor, got {type(hx).__name__}")
            h0, c0 = self._hidden(hx, ref, batched, n, out_size, "hx", packed), None
        if packed and hx is not None and sorted_indices is not None:
            h0 = h0.index_select(1, sorted_indices)
            c0 = c0.index_select(1, sorted_indices) if lstm else None
        num_dirs = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0 and self.training:
                x = F.dropout(x, self.dropout, training=True)
            outs = []
            for d in range(num_dirs):
                k = layer * num_dirs + d
                o, h, c = run(x, layer, d, h0[k], c0[k] if lstm else None)
                outs.append(o)
                hs.append(h)
                cs.append(c)
            x = outs[0] if num_dirs == 1 else cat(outs, -1)
        h_n = stack(hs, 0)
        c_n = stack(cs, 0) if lstm else None
        if packed:
            if unsorted_indices is not None:
                h_n = h_n.index_select(1, unsorted_indices)
                c_n = c_n.index_select(1, unsorted_indices) if lstm else None
            out = PackedSequence(x, batch_sizes, sorted_indices, unsorted_indices)
            return out, ((h_n, c_n) if lstm else h_n)
        if not batched:
            x, h_n = x.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        elif self.batch_first:
            x = x.transpose(0, 1)
        return x, ((h_n, c_n) if lstm else h_n)


class RNN(RNNBase):
    """Elman RNN: h_t = nonlinearity(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), nonlinearity 'tanh' or 'relu'."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        _act(nonlinearity, "RNN")
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory; forward(input, (h_0, c_0)) returns (output, (h_n, c_n)). With proj_size > 0, h is
    projected by weight_hr_l{k} to proj_size after each step (h_0, h_n and the output have proj_size features)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """Gated recurrent unit; forward(input, h_0) returns (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


# ------------------------------------------------------------------------------------------------- cells
class RNNCellBase(Module):
    """One time step: weight_ih (chunks * H, input_size), weight_hh (chunks * H, H), bias_ih, bias_hh."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.weight_ih = Parameter(_empty((num_chunks * hidden_size, input_size), device, dtype))
        self.weight_hh = Parameter(_empty((num_chunks * hidden_size, hidden_size), device, dtype))
        if bias:
            self.bias_ih = Parameter(_empty((num_chunks * hidden_size,), device, dtype))
            self.bias_hh = Parameter(_empty((num_chunks * hidden_size,), device, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _prepare(self, input, hxs):
        """Checks input (N, input_size) or (input_size,) and each hidden state (N, H) / (H,); returns batched
        input, hidden states (zeros where None) and whether the input was batched."""
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D input of shape "
                             f"{tuple(input.shape)} instead")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got {input.shape[-1]} expected "
                               f"{self.input_size} (input shape {tuple(input.shape)})")
        _check_dtype(name, input, self.weight_ih)
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        out = []
        for label, h in hxs:
            if h is None:
                h = factories.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            else:
                want = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
                _check_hidden(name, label, h, want)
                if h.dtype != x.dtype:
                    raise ValueError(f"{name}: {label} dtype {h.dtype} does not match input dtype {x.dtype}")
                h = h if batched else h.unsqueeze(0)
            out.append(h)
        return x, out, batched


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        _act(nonlinearity, "RNNCell")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        h = _rnn_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh,
                      _act(self.nonlinearity, "RNNCell"))
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        x, (h, c), batched = self._prepare(input, [("h_0", None if hx is None else hx[0]),
                                                   ("c_0", None if hx is None else hx[1])])
        h, c = _lstm_step(linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        x, (h,), batched = self._prepare(input, [("hx", hx)])
        h = _gru_step(linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
