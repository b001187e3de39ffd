"""Whole modules through tensorgrad.save / tensorgrad.load, as torch.save(model) / torch.load (pytorch/examples'
super_resolution and word_language_model checkpoint this way): the module comes back with its class, attributes,
parameters, shared submodules and function attributes, and loading it needs the same allowlist as torch's
weights_only load (serialization.safe_globals / add_safe_globals), or weights_only=False. Each behaviour is checked
against torch's on the same model. Also torch.nn.modules' file paths (torch.nn.modules.linear.Linear, ...), which
those allowlists name."""
import importlib
import io
import json
import pickle
import sys

import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.nn.modules.linear  # noqa: F401  (torch's path for NonDynamicallyQuantizableLinear)
from tensorgrad.io import CheckpointError, safetensors_bytes
from tensorgrad.serialization import FORMAT

from helpers import copy_to_torch, raises

torch.set_num_threads(1)


def _net_class(nn, F):
    """The same user model in either library: convs + PixelShuffle, an LSTM, a transformer layer (it keeps F.relu as
    an attribute), a submodule reached twice and plain attributes."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.shuffle = nn.PixelShuffle(2)
            self.rnn = nn.LSTM(4, 5, batch_first=True)
            self.enc = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
            self.head = nn.Linear(5, 8)
            self.head_again = self.head
            self.scale, self.name, self.sizes = 0.5, "net", (2, 3)

        def forward(self, img, seq):
            y = self.shuffle(F.relu(self.conv(img)))
            h, _ = self.rnn(seq)
            return y.sum() * self.scale + self.enc(self.head_again(h)).sum()

    return Net


TgNet = _net_class(tg.nn, tg.nn.functional)
TorchNet = _net_class(torch.nn, torch.nn.functional)
# found by module.qualname on saving and loading, as pickle finds classes
TgNet.__qualname__, TorchNet.__qualname__ = "TgNet", "TorchNet"


def _tg_allow():
    nn = tg.nn
    return [TgNet, nn.Conv2d, nn.PixelShuffle, nn.LSTM, nn.TransformerEncoderLayer, nn.MultiheadAttention,
            nn.modules.linear.NonDynamicallyQuantizableLinear, nn.Linear, nn.LayerNorm, nn.Dropout,
            nn.functional.relu]


def _torch_allow():
    nn = torch.nn
    return [TorchNet, nn.Conv2d, nn.PixelShuffle, nn.LSTM, nn.TransformerEncoderLayer, nn.MultiheadAttention,
            nn.modules.linear.NonDynamicallyQuantizableLinear, nn.Linear, nn.LayerNorm, nn.Dropout,
            nn.functional.relu]


def _pair():
    tg.manual_seed(0)
    m, tm = TgNet(), TorchNet()
    copy_to_torch(m, tm)
    m.eval(), tm.eval()
    rng = np.random.default_rng(0)
    img, seq = rng.standard_normal((2, 1, 3, 3)).astype(np.float32), rng.standard_normal((2, 4, 4)).astype(np.float32)
    return m, tm, (tg.tensor(img), tg.tensor(seq)), (torch.tensor(img), torch.tensor(seq))


def _saved(m, lib):
    buf = io.BytesIO()
    lib.save(m, buf)
    buf.seek(0)
    return buf


def _tg_load(buf, **kw):
    buf.seek(0)
    return tg.load(buf, **kw)


def _torch_load(buf, **kw):
    buf.seek(0)
    return torch.load(buf, **kw)


def test_whole_module_round_trip_matches_torch():
    m, tm, args, targs = _pair()
    want = tm(*targs).item()
    assert m(*args).item() == pytest.approx(want, rel=1e-5)
    with tg.serialization.safe_globals(_tg_allow()):
        m2 = _tg_load(_saved(m, tg))
    with torch.serialization.safe_globals(_torch_allow()):
        tm2 = _torch_load(_saved(tm, torch))
    for got, ref in ((m2, m), (tm2, tm)):
        assert type(got) is type(ref) and got is not ref
        assert got.head_again is got.head  # one submodule, as pickle's memo keeps it
        assert got.enc.activation is ref.enc.activation
        assert (got.training, got.scale, got.name, got.sizes) == (False, 0.5, "net", (2, 3))
    assert [type(v).__name__ for v in m2.modules()] == [type(v).__name__ for v in tm2.modules()]
    assert list(m2.state_dict()) == list(tm2.state_dict())
    for (k, p), (_, tp) in zip(m2.named_parameters(), tm2.named_parameters()):
        assert isinstance(p, tg.nn.Parameter) and p.requires_grad, k
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy(), err_msg=k)
    assert m2(*args).item() == pytest.approx(tm2(*targs).item(), rel=1e-5)
    # the loaded module trains: its parameters are leaves that receive gradients
    m2(*args).backward()
    assert all(p.grad is not None for p in m2.parameters())


def test_loading_needs_the_allowlist_as_torch_does():
    m, tm, _, _ = _pair()
    buf, tbuf = _saved(m, tg), _saved(tm, torch)
    with pytest.raises(pickle.UnpicklingError, match="Unsupported global"):
        _torch_load(tbuf)
    with raises(CheckpointError, "weights only load refused obj", f"{__name__}.TgNet", "add_safe_globals"):
        _tg_load(buf)
    # the class alone is not enough: the submodules' classes and F.relu must be allowed too
    with torch.serialization.safe_globals([TorchNet]), pytest.raises(pickle.UnpicklingError):
        _torch_load(tbuf)
    with tg.serialization.safe_globals([TgNet]), raises(CheckpointError, r"obj.__dict__\['_modules'\]\['conv'\]",
                                                        "tensorgrad.nn.conv.Conv2d"):
        _tg_load(buf)
    allow = _tg_allow()
    with tg.serialization.safe_globals(allow[:-1]), raises(CheckpointError, "activation", "relu"):
        _tg_load(buf)
    # weights_only=False takes every class from the modules already imported
    assert type(_torch_load(tbuf, weights_only=False)) is TorchNet
    assert type(_tg_load(buf, weights_only=False)) is TgNet


def test_safe_globals_registry_as_torch():
    for lib, cls in ((torch, TorchNet), (tg, TgNet)):
        ser = lib.serialization
        before = ser.get_safe_globals()
        try:
            ser.add_safe_globals([cls, (lib.nn.Linear, "renamed.Linear")])
            now = ser.get_safe_globals()
            assert cls in now and (lib.nn.Linear, "renamed.Linear") in now and lib.nn.Linear not in now
            with ser.safe_globals([lib.nn.ReLU]):
                assert lib.nn.ReLU in ser.get_safe_globals()
            assert lib.nn.ReLU not in ser.get_safe_globals()
            ser.clear_safe_globals()
            assert ser.get_safe_globals() == []
        finally:
            ser.clear_safe_globals()
            ser.add_safe_globals(before)
    with raises(TypeError, "add_safe_globals", "expected classes, functions"):
        tg.serialization.add_safe_globals(["tensorgrad.nn.Linear"])


def test_unstorable_module_attributes_are_refused_as_torch():
    for lib in (torch, tg):
        m = lib.nn.Linear(2, 2)
        m.fn = lambda x: x
        with pytest.raises((TypeError, AttributeError, pickle.PicklingError), match="lambda|local"):
            lib.save(m, io.BytesIO())


def _file(obj_node):
    return io.BytesIO(safetensors_bytes({}, {"tensorgrad": json.dumps({"format": FORMAT, "obj": obj_node})}))


def test_hostile_module_records_are_refused_without_running_anything():
    """Even with weights_only=False, a record names only a class that is an nn.Module and already imported; the load
    imports nothing and calls no __init__."""
    import subprocess
    popen = {"$": "module", "id": 0, "class": {"$": "global", "module": "subprocess", "qualname": "Popen"},
             "state": {"$": "dict", "items": [["args", "true"]]}}
    with raises(CheckpointError, "not an nn.Module"):
        tg.load(_file(popen), weights_only=False)
    assert subprocess.Popen  # (imported above so that only the nn.Module check refuses it)
    missing = "tensorgrad_never_imported_module_xyz"
    node = {"$": "global", "module": missing, "qualname": "f"}
    with raises(CheckpointError, f"module '{missing}' is not imported"):
        tg.load(_file(node), weights_only=False)
    assert missing not in sys.modules
    with raises(CheckpointError, "not an allowed global"):
        tg.load(_file({"$": "global", "module": "os", "qualname": "system"}))
    with raises(CheckpointError, "refers to module 7"):
        tg.load(_file({"$": "ref", "id": 7}))
    bad_state = dict(popen, **{"class": {"$": "global", "module": "tensorgrad.nn.layers", "qualname": "Linear"},
                               "state": [1, 2]})
    with raises(CheckpointError, "attributes are not a dict"):
        tg.load(_file(bad_state), weights_only=False)


def test_torch_nn_modules_paths_match_torch():
    """Each tensorgrad.nn.modules.<file> holds tensorgrad.nn's classes that torch defines in torch.nn.modules.<file>
    (the paths scripts list in their safe_globals)."""
    import pkgutil
    import tensorgrad.nn.modules as ours
    files = [i.name for i in pkgutil.iter_modules(ours.__path__)]
    assert {"activation", "container", "conv", "dropout", "linear", "normalization", "pixelshuffle", "rnn", "sparse",
            "transformer"} <= set(files)
    for f in files:
        mine = importlib.import_module(f"tensorgrad.nn.modules.{f}")
        theirs = importlib.import_module(f"torch.nn.modules.{f}")
        for name in mine.__all__:
            assert hasattr(theirs, name), (f, name)
            assert getattr(mine, name) is getattr(tg.nn, name, getattr(mine, name)), (f, name)
            assert isinstance(getattr(mine, name), type)
    assert tg.nn.modules.Module is tg.nn.Module


_ALIAS_SCRIPT = '''
import io
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.shuffle = nn.Conv2d(1, 4, 3, padding=1), nn.PixelShuffle(2)

    def forward(self, x):
        return self.shuffle(self.conv(x))


buf = io.BytesIO()
net = Net()
torch.save(net, buf)
buf.seek(0)
with torch.serialization.safe_globals([Net, torch.nn.modules.conv.Conv2d,
                                       torch.nn.modules.pixelshuffle.PixelShuffle]):
    net2 = torch.load(buf)
x = torch.randn(1, 1, 3, 3)
print(type(net2).__name__, torch.equal(net2(x), net(x)))
'''


def test_safe_globals_load_runs_under_the_alias(tmp_path):
    """super_resolution's super_resolve.py / word_language_model's pattern, run as the program would be."""
    import os
    import subprocess
    script = tmp_path / "prog.py"
    script.write_text(_ALIAS_SCRIPT)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo)
    r = subprocess.run([sys.executable, "-m", "tensorgrad.compat", str(script)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "Net True"
