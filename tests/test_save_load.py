"""tensorgrad.save / tensorgrad.load: torch's call shape without pickle. Round trips of what training scripts save
(nested containers, numbers, strings, model and optimizer state_dicts, RNG state) with exact types, dtypes and bits;
resuming from a checkpoint continues bit-exactly; map_location; paths and file objects; pickle files (torch.save's
output among them) refused without being run; truncated and hostile files raise CheckpointError; state_dicts cross
to and from PyTorch."""
import collections
import io
import json
import math
import os
import pathlib
import pickle
import struct

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

import tensorgrad as tg
from tensorgrad.io import CheckpointError, save_checkpoint
from tensorgrad.serialization import FORMAT

from helpers import copy_to_torch, raises

torch.set_num_threads(1)


def roundtrip(obj, **load_kw):
    buf = io.BytesIO()
    tg.save(obj, buf)
    buf.seek(0)
    return tg.load(buf, **load_kw)


def same(a, b):
    """a and b are equal with the same types all the way down (tensors: dtype, shape, bits, requires_grad)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(b, tg.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        assert np.asarray(a.array).tobytes() == np.asarray(b.array).tobytes()
    elif isinstance(b, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(b, dict):
        assert list(a) == list(b)
        for k in b:
            same(a[k], b[k])
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(b, float) and math.isnan(b):
        assert math.isnan(a)
    else:
        assert a == b and (not isinstance(b, float) or math.copysign(1, a) == math.copysign(1, b))


# ------------------------------------------------------------------------------------------------ structures
def test_nested_python_values_round_trip_with_their_types():
    obj = {
        "epoch": 7, "big": 2 ** 100, "neg": -3, "lr": 3e-4, "inf": math.inf, "-inf": -math.inf, "nan": math.nan,
        "negzero": -0.0, "name": "gpt-ü∂", "flag": True, "off": False, "none": None, "bytes": b"\x00\xff",
        "tuple": (1, (2.5, "x"), ()), "list": [1, [2, [3, []]], (None,)], "set": {1, 2}, "frozen": frozenset("ab"),
        1: "int key", (1, "a"): "tuple key", None: "None key", 2.5: "float key", False: "bool key",
        "od": collections.OrderedDict([("z", 1), ("a", 2)]), "empty": {}, "dtype": tg.float16,
        "device": tg.device("cpu"),
        "betas": (0.9, 0.999),
    }
    same(roundtrip(obj), obj)
    for scalar in (None, 3, 2.0, "s", True, (), []):
        same(roundtrip(scalar), scalar)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64, np.int32, np.int16, np.int8,
                                   np.uint8, np.bool_])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (2, 3), (4, 1, 2)])
def test_tensors_of_every_dtype_and_shape(dtype, shape):
    rng = np.random.default_rng(0)
    x = np.asarray((rng.standard_normal(shape) * 100).astype(dtype))
    t = tg.tensor(x)
    back = roundtrip({"t": t, "np": x, "npscalar": x.reshape(-1)[0] if x.size else np.float32(1.5),
                      "transposed": tg.tensor(x).permute(*reversed(range(len(shape))))})
    same(back["t"], t)
    same(back["np"], x)
    assert back["transposed"].shape == tuple(reversed(shape))
    np.testing.assert_array_equal(back["transposed"].numpy(), x.transpose())
    with torch.no_grad():  # the same bits torch has for the same data
        np.testing.assert_array_equal(back["t"].numpy(), torch.from_numpy(x.copy()).numpy())


def test_requires_grad_parameters_and_sharing():
    p = tg.nn.Parameter(tg.randn(3))
    frozen = tg.nn.Parameter(tg.randn(2), requires_grad=False)
    leaf = tg.randn(2, requires_grad=True)
    nonleaf = leaf * 2  # torch saves it with requires_grad and loads a leaf
    view = p.detach()[:2]
    back = roundtrip({"p": p, "again": p, "frozen": frozen, "leaf": leaf, "nonleaf": nonleaf, "view": view,
                      "list": [p]})
    assert type(back["p"]) is tg.nn.Parameter and back["p"].requires_grad
    assert type(back["frozen"]) is tg.nn.Parameter and not back["frozen"].requires_grad
    assert back["leaf"].requires_grad and back["nonleaf"].requires_grad and back["nonleaf"].grad_fn is None
    # one object saved twice is one object loaded (as pickle's memo); a view of it is stored on its own
    assert back["p"] is back["again"] is back["list"][0]
    back["view"].array[0] = 100.0
    assert back["p"].detach().numpy()[0] != 100.0
    # loaded tensors own writable memory
    back["p"].array[1] = 5.0


def test_tensors_from_torch_are_accepted():
    """A checkpoint loaded with torch can be re-saved in tensorgrad's format (the conversion the pickle error names)."""
    tm = torch.nn.Linear(3, 2)
    sd = {"model": tm.state_dict(), "param": tm.weight, "i": torch.arange(3)}
    back = roundtrip(sd)
    assert type(back["param"]) is tg.nn.Parameter and back["param"].requires_grad
    assert back["i"].dtype == tg.int64 and back["i"].tolist() == [0, 1, 2]
    m = tg.nn.Linear(3, 2)
    m.load_state_dict(back["model"])
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    assert m.weight.detach().numpy().tobytes() == tm.weight.detach().numpy().tobytes()
    np.testing.assert_allclose(m(tg.tensor(x)).detach().numpy(), tm(torch.from_numpy(x)).detach().numpy(), rtol=1e-6)
    with raises(TypeError, r"obj\['b'\] is a torch bfloat16 tensor", r"\.float\(\)"):
        roundtrip({"b": torch.ones(2, dtype=torch.bfloat16)})


# ------------------------------------------------------------------------------------------------ paths and files
def test_paths_and_file_objects(tmp_path):
    obj = {"w": tg.arange(6.0).reshape(2, 3), "step": 3}
    for target in (str(tmp_path / "a.pt"), tmp_path / "b.pt"):
        tg.save(obj, target)
        same(tg.load(target), obj)
    with open(tmp_path / "c.pt", "wb") as f:
        tg.save(obj, f)
    with open(tmp_path / "c.pt", "rb") as f:
        same(tg.load(f), obj)
    tg.save({"new": 1}, tmp_path / "a.pt")  # an existing file is replaced whole
    assert tg.load(str(tmp_path / "a.pt")) == {"new": 1}
    assert not [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    with open(tmp_path / "c.pt", "r", encoding="latin-1") as f:
        with raises(TypeError, "text mode", r"'rb'"):
            tg.load(f)
    with raises(TypeError, "tensorgrad.save: f must be a path"):
        tg.save(obj, 3)
    with raises(TypeError, "tensorgrad.load: f must be a path"):
        tg.load(3)
    with raises(CheckpointError, "no checkpoint file here"):
        tg.load(tmp_path / "missing.pt")


def test_torch_only_arguments():
    same(roundtrip({"a": 1}, weights_only=True), {"a": 1})
    same(roundtrip({"a": 1}, weights_only=False, mmap=False, encoding="latin1"), {"a": 1})
    with raises(TypeError, "pickle_module is not supported"):
        tg.save({}, io.BytesIO(), pickle_module=pickle)
    with raises(TypeError, "pickle_module is not supported"):
        tg.load(io.BytesIO(b""), pickle_module=pickle)
    tg.save({}, io.BytesIO(), pickle_protocol=4, _use_new_zipfile_serialization=False)


def test_unstorable_objects_are_refused_at_save_with_their_place():
    Point = collections.namedtuple("Point", "x y")
    for bad, where, what in ((Point(1, 2), r"obj\['a'\]\[1\]", "Point"), (object(), r"obj\['a'\]\[1\]", "object"),
                             (lambda: 0, r"obj\['a'\]\[1\]", "function"),
                             (collections.defaultdict(list), r"obj\['a'\]\[1\]", "defaultdict")):
        with raises(TypeError, "tensorgrad.save: " + where, what, "cannot be stored without pickle"):
            tg.save({"a": [0, bad]}, io.BytesIO())
    with raises(TypeError, r"obj\[0\] has dtype complex64", "cannot hold"):
        tg.save([np.zeros(2, np.complex64)], io.BytesIO())
    deep = []
    for _ in range(10000):
        deep = [deep]
    with raises(ValueError, "nested too deeply"):
        tg.save(deep, io.BytesIO())


# ------------------------------------------------------------------------------------------------ training state
def _model():
    tg.manual_seed(0)
    return tg.nn.Sequential(tg.nn.Linear(4, 8), tg.nn.Tanh(), tg.nn.Dropout(0.2), tg.nn.Linear(8, 3))


def _batches(n, seed=1):
    rng = np.random.default_rng(seed)
    return [(tg.tensor(rng.standard_normal((5, 4)).astype(np.float32)), tg.tensor(rng.integers(0, 3, 5)))
            for _ in range(n)]


def _steps(model, opt, batches, sched=None):
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("make_opt", [
    lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    lambda ps: tg.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), amsgrad=True),
    lambda ps: tg.optim.AdamW([{"params": ps[:2], "lr": 1e-2}, {"params": ps[2:], "weight_decay": 0.0}], lr=3e-3),
    lambda ps: tg.optim.RMSprop(ps, lr=1e-3, momentum=0.5, centered=True),
    lambda ps: tg.optim.Adagrad(ps, lr=0.1),
], ids=["sgd", "adam", "adamw_groups", "rmsprop", "adagrad"])
def test_checkpoint_resume_is_bit_exact(tmp_path, make_opt):
    """Train 3 steps, save model + optimizer + RNG state + step counter, train 4 more; a fresh process-like restore
    from the file trains the same 4 steps to the same bits (dropout included, through the RNG state)."""
    batches = _batches(7)
    model = _model()
    opt = make_opt(list(model.parameters()))
    _steps(model, opt, batches[:3])
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "rng": tg.get_rng_state(), "iter": 3,
            "config": {"n_layer": 2, "dropout": 0.2, "betas": (0.9, 0.95)}, "best_val_loss": 1e9}
    tg.save(ckpt, tmp_path / "ckpt.pt")
    # compared now: state_dict() tensors share storage with the parameters, which training goes on to change
    same(tg.load(tmp_path / "ckpt.pt"), ckpt)
    want = _steps(model, opt, batches[3:])
    want_params = [p.detach().numpy().copy() for p in model.parameters()]

    tg.manual_seed(123)  # a different state the restore must overwrite
    model2 = _model()
    for p in model2.parameters():
        p.array[...] = 0
    opt2 = make_opt(list(model2.parameters()))
    loaded = tg.load(tmp_path / "ckpt.pt", map_location="cpu")
    assert loaded["iter"] == 3 and loaded["config"]["betas"] == (0.9, 0.95)
    assert list(loaded["optimizer"]["state"]) == list(ckpt["optimizer"]["state"])  # int parameter ids
    model2.load_state_dict(loaded["model"])
    opt2.load_state_dict(loaded["optimizer"])
    tg.set_rng_state(loaded["rng"])
    got = _steps(model2, opt2, batches[3:])
    assert got == want
    for p, w in zip(model2.parameters(), want_params):
        assert p.detach().numpy().tobytes() == w.tobytes()


def test_optimizer_state_dict_round_trip_gives_identical_steps():
    batches = _batches(4, seed=5)
    model = _model()
    model.eval()
    opt = tg.optim.Adam(model.parameters(), lr=1e-2)
    _steps(model, opt, batches[:2])
    sd = roundtrip(opt.state_dict())
    snapshot = roundtrip(model.state_dict())
    want = _steps(model, opt, batches[2:])
    model.load_state_dict(snapshot)
    opt.load_state_dict(sd)
    assert _steps(model, opt, batches[2:]) == want


def test_state_dict_crosses_to_torch_and_back(tmp_path):
    """tensorgrad.save -> tensorgrad.load -> torch.from_numpy -> torch model: the same outputs; and the reverse
    through a plain safetensors file written by safetensors.torch (the documented conversion path)."""
    model = _model()
    model.eval()
    tg.save(model.state_dict(), tmp_path / "m.pt")
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 3))
    tm.eval()
    tm.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in tg.load(tmp_path / "m.pt").items()})
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(model(tg.tensor(x)).detach().numpy(), tm(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-7)

    torch.manual_seed(3)
    tm2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(8, 3))
    safetensors.torch.save_file(tm2.state_dict(), str(tmp_path / "torch.safetensors"))
    plain = tg.load(tmp_path / "torch.safetensors")
    assert set(plain) == set(tm2.state_dict()) and all(type(v) is tg.Tensor for v in plain.values())
    model.load_state_dict(plain)
    tm2.eval()
    np.testing.assert_allclose(model(tg.tensor(x)).detach().numpy(), tm2(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-6, atol=1e-7)
    copy_to_torch(model, tm2)  # names, order and shapes agree with torch's


# ------------------------------------------------------------------------------------------------ map_location
def _file_saved_on(location):
    """A tensorgrad.save file whose one tensor was saved on ``location`` (written by hand: no GPU needed)."""
    tree = {"$": "tensor", "key": "0", "device": location, "requires_grad": False, "parameter": False}
    return io.BytesIO(safetensors.numpy.save({"0": np.arange(3.0)},
                                             metadata={"tensorgrad": json.dumps({"format": FORMAT, "obj": tree})}))


@pytest.mark.parametrize("map_location", [None, "cpu", tg.device("cpu"), torch.device("cpu"), {"cpu": "cpu"},
                                          lambda storage, loc: storage, lambda storage, loc: None])
def test_map_location_to_cpu(map_location):
    back = roundtrip({"t": tg.ones(2)}, map_location=map_location)
    assert back["t"].device == tg.device("cpu") and back["t"].tolist() == [1.0, 1.0]


@pytest.mark.skipif(tg.cuda_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error():
    for map_location in ("cuda", "cuda:0", tg.device("cuda"), {"cpu": "cuda:0"}):
        with raises(RuntimeError, "CUDA is not available", "map_location='cpu'"):
            roundtrip({"t": tg.ones(2)}, map_location=map_location)
    with raises(RuntimeError, r"obj was saved on cuda:0 .*CUDA is not available", "map_location='cpu'"):
        tg.load(_file_saved_on("cuda:0"))
    for map_location in ("cpu", {"cuda:0": "cpu"}, lambda s, loc: s):
        assert tg.load(_file_saved_on("cuda:0"), map_location=map_location).tolist() == [0.0, 1.0, 2.0]


@pytest.mark.skipif(not tg.cuda_available(), reason="needs a GPU")
def test_map_location_moves_to_cuda_and_back():
    back = roundtrip({"t": tg.ones(2)}, map_location="cuda")
    assert back["t"].device == tg.device("cuda:0")
    again = roundtrip(back)
    assert again["t"].device == tg.device("cuda:0")
    assert roundtrip(back, map_location="cpu")["t"].device == tg.device("cpu")


# ------------------------------------------------------------------------------------------------ refused and bad files
class _Boom:
    def __reduce__(self):
        return (os.system, ("touch tensorgrad_pwned",))


@pytest.mark.parametrize("make", [
    lambda f: torch.save({"w": torch.ones(2)}, f),
    lambda f: torch.save({"w": torch.ones(2)}, f, _use_new_zipfile_serialization=False),
    lambda f: f.write(pickle.dumps({"a": 1}, protocol=2)),
    lambda f: f.write(pickle.dumps({"a": 1}, protocol=5)),
    lambda f: f.write(pickle.dumps(_Boom(), protocol=4)),
], ids=["torch_zip", "torch_legacy", "pickle2", "pickle5", "malicious"])
def test_pickle_files_are_refused_without_running_them(tmp_path, monkeypatch, make):
    monkeypatch.chdir(tmp_path)
    with open("ckpt.pt", "wb") as f:
        make(f)
    for source in ("ckpt.pt", io.BytesIO(pathlib.Path("ckpt.pt").read_bytes())):
        with raises(CheckpointError, "refused", "unpickling can execute arbitrary code", "torch.load",
                    "safetensors.torch.save_file", "tensorgrad.save"):
            tg.load(source)
    assert not os.path.exists("tensorgrad_pwned")


def test_truncated_and_hostile_files(tmp_path):
    path = tmp_path / "ok.pt"
    tg.save({"w": tg.randn(64, 64), "n": 1}, path)
    data = path.read_bytes()
    for cut in (0, 4, 8, 100, len(data) - 1):
        (tmp_path / "cut.pt").write_bytes(data[:cut])
        with pytest.raises(CheckpointError):
            tg.load(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(struct.pack("<Q", 2 ** 60) + b"{}")
    with raises(CheckpointError, "header length"):
        tg.load(tmp_path / "junk.pt")

    def crafted(tree, arrays=None, fmt=FORMAT):
        meta = json.dumps({"format": fmt, "obj": tree})
        return io.BytesIO(safetensors.numpy.save(arrays or {}, metadata={"tensorgrad": meta}))

    for tree, what in (({"$": "tensor", "key": "9"}, "does not hold"), ({"$": "nope"}, "unknown node"),
                       ({"$": "dict", "items": [[1]]}, r"\[key, value\] pairs"),
                       ({"$": "dict", "items": [[[1], 2]]}, "unhashable"), ({"$": "tuple"}, "list of items"),
                       ({"$": "float", "v": "1e5"}, "unknown node"), ({"$": "tensor", "key": ["0"]}, "does not hold"),
                       ({"a": [{"$": "dtype", "v": "object"}]}, r"unknown node")):
        with raises(CheckpointError, "corrupt structure at obj", what):
            tg.load(crafted(tree))
    with raises(CheckpointError, "unknown format"):
        tg.load(crafted(1, fmt="something-else"))
    bad_json = io.BytesIO(safetensors.numpy.save({}, metadata={"tensorgrad": "{"}))
    with raises(CheckpointError, "corrupt structure metadata"):
        tg.load(bad_json)
    deep = io.BytesIO(safetensors.numpy.save({}, metadata={"tensorgrad": "[" * 100000 + "]" * 100000}))
    with pytest.raises(CheckpointError):
        tg.load(deep)


def test_training_checkpoints_point_to_their_own_reader(tmp_path):
    save_checkpoint(str(tmp_path / "c.safetensors"), {"w": np.ones(2, np.float32)}, write_json=False)
    with raises(CheckpointError, "training checkpoint", "tensorgrad.io.load_checkpoint"):
        tg.load(tmp_path / "c.safetensors")
