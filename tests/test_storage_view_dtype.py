"""Tensor.view(dtype), Tensor.untyped_storage() and torch.device("meta"): what safetensors.torch (and checkpoint
code generally) reads of a tensor's memory. Compared with torch; the safetensors round trip runs under the alias in a
subprocess, the same program under real torch in another."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import tensorgrad as tg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DTYPES = ["float32", "float64", "float16", "bfloat16", "int8", "uint8", "int16", "int32", "int64", "bool"]


@pytest.mark.parametrize("src", DTYPES)
@pytest.mark.parametrize("dst", DTYPES)
def test_view_dtype_reads_the_same_bytes_as_torch(src, dst):
    rng = np.random.default_rng(0)
    shape = (3, 8)
    raw = rng.integers(0, 2, size=shape).astype(bool) if src == "bool" else rng.integers(0, 50, size=shape)
    t = torch.tensor(raw).to(getattr(torch, src))
    x = tg.tensor(raw).to(getattr(tg, src))
    try:
        want = t.view(getattr(torch, dst))
    except RuntimeError as e:
        with pytest.raises(RuntimeError, match=str(e).split(" to view")[0].replace("(", r"\(").replace(")", r"\)")):
            x.view(getattr(tg, dst))
        return
    got = x.view(getattr(tg, dst))
    assert tuple(got.shape) == tuple(want.shape) and tg.dtypes.name(got.dtype) == dst
    # compare bytes, so NaN payloads and bool views need no value semantics
    np.testing.assert_array_equal(np.asarray(got.to(tg.float64) if dst == "bfloat16" else got).view(np.uint8),
                                  want.double().numpy().view(np.uint8) if dst == "bfloat16" else
                                  want.numpy().view(np.uint8))


def test_view_dtype_errors_and_autograd_match_torch():
    for lib in (torch, tg):
        x = lib.ones(4, requires_grad=True)
        v = x.view(lib.int32)
        assert not v.requires_grad and v.grad_fn is None  # (torch's view(dtype) is not differentiable)
        assert x.view(dtype=lib.uint8).shape == (16,)
    cases = [(lambda L: L.zeros(2, 3, dtype=L.uint8).view(L.float32), "must be divisible by 4"),
             (lambda L: L.zeros(2, 4, dtype=L.uint8).t().view(L.int16), "stride\\(-1\\) must be 1"),
             (lambda L: L.zeros((), dtype=L.int32).view(L.int16), "dim\\(\\) cannot be 0")]
    for f, msg in cases:
        for lib in (torch, tg):
            with pytest.raises(RuntimeError, match=msg):
                f(lib)
    for lib in (torch, tg):
        x = lib.ones(3)
        x.view(lib.int32)[1] = 0  # a view: the write reaches x's memory
        assert x.tolist() == [1.0, 0.0, 1.0]


def test_untyped_storage_is_shared_by_views_as_torchs():
    for lib in (torch, tg):
        a = lib.arange(12.0).reshape(3, 4)
        v, other = a[1:, 2:], a.clone()
        s = a.untyped_storage()
        assert s.nbytes() == 48 and len(s) == 48 and s.size() == 48
        assert v.untyped_storage().data_ptr() == s.data_ptr() == a.data_ptr()
        assert other.untyped_storage().data_ptr() != s.data_ptr()
        assert str(s.device) == "cpu"
        assert v.data_ptr() == s.data_ptr() + v.storage_offset() * 4


def test_meta_device_exists_but_holds_no_tensors():
    assert tg.device("meta") == torch.device("meta").type and tg.device("cpu") != tg.device("meta")
    assert str(tg.device("meta")) == "meta" and repr(tg.device("meta")) == "device(type='meta')"
    with pytest.raises(RuntimeError, match="meta device"):
        tg.zeros(2, device="meta")
    with pytest.raises(ValueError, match="takes no index"):
        tg.device("meta:0")


PROGRAM = """
    import numpy as np, torch
    from safetensors.torch import save_file, load_file, save, load
    from safetensors import safe_open
    g = torch.Generator().manual_seed(0)
    t = {"f": torch.arange(15.0).reshape(3, 5) / 7, "h": (torch.arange(4.0) / 3).half(),
         "bf": (torch.arange(6.0) / 3).bfloat16().reshape(2, 3), "i8": torch.tensor([-3, 4], dtype=torch.int8),
         "b": torch.tensor([True, False]), "d": torch.arange(4.0, dtype=torch.float64).reshape(2, 2) / 9,
         "l": torch.arange(5), "s": torch.tensor(3.5)}
    save_file(t, "w.safetensors", metadata={"step": "7"})
    r = load_file("w.safetensors")
    for k in sorted(r):
        print(k, str(r[k].dtype).split(".")[-1], tuple(r[k].shape), r[k].float().flatten().tolist())
    r["f"].add_(1)  # loaded tensors are writable (a private mapping)
    print(round(r["f"].sum().item(), 4))
    print(sorted(load(save({"x": t["f"]}))["x"].flatten().tolist()) == sorted(t["f"].flatten().tolist()))
    with safe_open("w.safetensors", framework="pt") as f:
        print(f.metadata(), f.get_slice("f")[1:3, :2].tolist())
    try:
        save_file({"a": t["f"], "b": t["f"]}, "tied.safetensors")
    except RuntimeError as e:
        print("tied:", "share memory" in str(e))
"""


def test_safetensors_torch_round_trip_under_the_alias(tmp_path):
    pytest.importorskip("safetensors")
    (tmp_path / "prog.py").write_text(textwrap.dedent(PROGRAM))
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    outs = []
    for args in (["-m", "tensorgrad.compat", "prog.py"], ["prog.py"]):
        r = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=str(tmp_path), env=env,
                           timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(r.stdout)
    assert outs[0] == outs[1]
