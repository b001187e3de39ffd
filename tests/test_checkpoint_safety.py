"""Checkpoint safety: safetensors only, never pickle; hostile or truncated files raise CheckpointError and execute
nothing; writes are atomic (temp file + fsync + rename + directory fsync) and a failed write leaves the old file."""
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import io as tio
from tensorgrad.io import CheckpointError, load_checkpoint, load_safetensors, save_checkpoint
from tensorgrad.train import load_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(REPO, "tensorgrad")


class _Payload:
    """Unpickling this runs arbitrary code: it writes the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pickle payload executed')",))


def _payloads(marker):
    p = _Payload(marker)
    obj = {"model.w": p, "iter_num": 3}
    out = {f"pickle-protocol-{k}": pickle.dumps(obj, protocol=k) for k in (0, 2, 4, 5)}
    # torch.save's zip layout (archive/data.pkl), as a `.pt` renamed to `.safetensors` would look
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        z.writestr("archive/version", "3\n")
    out["torch-zip"] = buf.getvalue()
    # a valid-looking safetensors prefix whose header is followed by a pickle (nothing may read past the header)
    hdr = json.dumps({"__metadata__": {"tensorgrad": json.dumps({"format": "tensorgrad-checkpoint-1"})}}).encode()
    out["safetensors-header-then-pickle"] = struct.pack("<Q", len(hdr)) + hdr + pickle.dumps(obj)
    return out


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tensorgrad", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def good_ckpt(tmp_path):
    """A real (small) checkpoint: model weights, Adam state, metadata."""
    model = tg.nn.Sequential(tg.nn.Linear(4, 3), tg.nn.LayerNorm(3))
    opt = tg.optim.AdamW(model.parameters(), lr=1e-3)
    model(tg.randn(2, 4)).sum().backward()
    opt.step()
    path = str(tmp_path / "good.safetensors")
    save_checkpoint(path, model.state_dict(), opt.state_dict(), {"iter_num": 1})
    return path


# ---------------------------------------------------------------------------------------------- pickle
def test_payload_is_live_when_unpickled(tmp_path):
    """Control: the payloads below really run code when unpickled (so the next test's 'no marker' means something)."""
    for name, data in _payloads(str(tmp_path / "m")).items():
        if name == "torch-zip":
            data = zipfile.ZipFile(__import__("io").BytesIO(data)).read("archive/data.pkl")
        elif name.startswith("safetensors"):
            data = data[8 + struct.unpack("<Q", data[:8])[0]:]
        assert not (tmp_path / "m").exists()
        pickle.loads(data)
        assert (tmp_path / "m").read_text() == "pickle payload executed", name
        (tmp_path / "m").unlink()


@pytest.mark.parametrize("kind", ["pickle-protocol-0", "pickle-protocol-2", "pickle-protocol-4", "pickle-protocol-5",
                                  "torch-zip", "safetensors-header-then-pickle"])
def test_pickle_renamed_to_safetensors_is_refused_and_never_executed(tmp_path, kind):
    marker = tmp_path / "PWNED"
    out = tmp_path / "run"
    out.mkdir()
    path = out / "ckpt.safetensors"
    path.write_bytes(_payloads(str(marker))[kind])
    for loader in (load_safetensors, load_checkpoint, load_model):
        with pytest.raises(CheckpointError) as info:
            loader(str(path))
        assert str(path) in str(info.value) and re.search(r"not (a valid safetensors|a tensorgrad)|truncated|corrupt",
                                                          str(info.value)), str(info.value)
    assert not marker.exists()
    # the command line: `sample` and `train --resume` print one clear line and exit 2, executing nothing
    for args in (("sample", "--out-dir", str(out), "--num-tokens", "5"),
                 ("train", "--out-dir", str(out), "--resume", "--max-iters", "2", "--quiet", "--no-plot")):
        r = _cli(*args, cwd=str(tmp_path))
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "error:" in r.stderr and "Traceback" not in r.stderr and str(path) in r.stderr, r.stderr
    assert not marker.exists()


# The one reader of a pickle format in the package, and why: CIFAR's python batches are pickles by format
# (torchvision's datasets.CIFAR10 reads them). Its Unpickler's find_class admits only NumPy's array reconstruction,
# so a tampered batch cannot run code (test_vision_datasets::test_cifar_checks_md5_and_refuses_code_in_pickles).
_PICKLE_READERS = {"tensorgrad/vision/datasets/cifar.py: import pickle"}


def test_package_never_uses_pickle():
    """Static guard: no module of the package can deserialize pickle (or eval loaded text), but the restricted
    reader above."""
    bad = re.compile(r"^\s*(import|from)\s+(c?pickle|dill|joblib|marshal|shelve)\b|allow_pickle\s*=\s*True|"
                     r"torch\.load\(|\bpickle\.loads?\(|(?<![.\w])(?<!def )(eval|exec)\(", re.M)  # model.eval() is fine
    hits = []
    for root, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                p = os.path.join(root, f)
                with open(p, encoding="utf-8") as fh:
                    for m in bad.finditer(fh.read()):
                        hits.append(f"{os.path.relpath(p, REPO)}: {m.group(0).strip()}")
    assert sorted(set(hits) - _PICKLE_READERS) == [], hits
    cifar = open(os.path.join(REPO, "tensorgrad/vision/datasets/cifar.py"), encoding="utf-8").read()
    assert "def find_class(self, module, name):" in cifar and "not in _ALLOWED" in cifar


# -------------------------------------------------------------------------------------------- truncation
def test_every_truncation_raises_checkpoint_error(good_ckpt):
    data = open(good_ckpt, "rb").read()
    hlen = struct.unpack("<Q", data[:8])[0]
    rng = np.random.default_rng(0)
    cuts = sorted(set(range(0, 8 + hlen + 16)) | set(rng.integers(8 + hlen, len(data), 100).tolist()))
    bad = os.path.join(os.path.dirname(good_ckpt), "cut.safetensors")
    for n in cuts:
        with open(bad, "wb") as f:
            f.write(data[:n])
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(bad)
        msg = str(info.value)
        assert bad in msg and re.search(r"truncated|not a valid safetensors|corrupt", msg), (n, msg)
        if n >= 8 + hlen and n < len(data):  # header intact, data cut short: say so
            assert "truncated" in msg, (n, msg)
    model, opt, meta = load_checkpoint(good_ckpt)  # the full file loads
    assert meta["iter_num"] == 1 and opt["state"]


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "e.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"e\.safetensors.*only 0 bytes"):
        load_checkpoint(str(tmp_path / "e.safetensors"))
    with pytest.raises(CheckpointError, match=r"nope\.safetensors.*no checkpoint file"):
        load_checkpoint(str(tmp_path / "nope.safetensors"))


# ------------------------------------------------------------------------------------------ hostile headers
def _file(header, body=b""):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


_TG = {"format": "tensorgrad-checkpoint-1"}
HOSTILE = [
    ("huge-header-length", struct.pack("<Q", 2 ** 63) + b"{}", r"header length"),
    ("header-longer-than-file", struct.pack("<Q", 1000) + b"{}", r"header length 1000 does not fit"),
    ("header-not-utf8", _file(b"\xff\xfe{}"), r"header is not JSON"),
    ("header-not-json", _file(b"{'a': 1}"), r"header is not JSON"),
    ("header-json-list", _file([1, 2]), r"not a JSON object"),
    ("nested-array-bomb", _file(b"[" * 100000 + b"]" * 100000), r"header is not JSON.*RecursionError"),
    ("nested-object-bomb", _file(('{"a":' * 100000 + "1" + "}" * 100000).encode()), r"header is not JSON"),
    ("entry-not-dict", _file({"t": "x"}), r"bad entry for tensor 't'"),
    ("unknown-dtype", _file({"t": {"dtype": "OBJ", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
     r"bad entry for tensor 't'"),
    ("negative-dim", _file({"t": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), r"bad entry"),
    ("float-dim", _file({"t": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, b"\0" * 4), r"bad entry"),
    ("int64-overflow-shape", _file({"t": {"dtype": "F32", "shape": [2 ** 32, 2 ** 32], "data_offsets": [0, 0]}}),
     r"bad entry"),
    ("bignum-shape", _file({"t": {"dtype": "F32", "shape": [10 ** 30], "data_offsets": [0, 4]}}, b"\0" * 4),
     r"bad entry"),
    ("size-mismatch", _file({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 16), r"bad entry"),
    ("offsets-past-end", _file({"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 4),
     r"truncated checkpoint.*'t'"),
    ("overlapping-tensors", _file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                   "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {
                                       "tensorgrad": json.dumps(_TG)}}, b"\0" * 4), r"not a valid safetensors"),
    ("metadata-not-strings", _file({"__metadata__": {"tensorgrad": {"x": 1}}}), r"__metadata__"),
    ("metadata-not-json", _file({"__metadata__": {"tensorgrad": "{nope"}}), r"corrupt checkpoint metadata"),
    ("metadata-json-list", _file({"__metadata__": {"tensorgrad": "[1]"}}), r"corrupt checkpoint metadata.*list"),
    ("metadata-bomb", _file({"__metadata__": {"tensorgrad": "[" * 100000 + "]" * 100000}}),
     r"corrupt checkpoint metadata"),
    ("no-tensorgrad-metadata", _file({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
     r"not a tensorgrad checkpoint"),
    ("optimizer-missing-tensor", _file({"__metadata__": {"tensorgrad": json.dumps(
        {**_TG, "optimizer": {"state": {"0": {"m": {"__tensor__": "optim.0.m"}}}, "param_groups": []}})}}),
     r"corrupt optimizer state.*optim\.0\.m"),
    ("optimizer-wrong-type", _file({"__metadata__": {"tensorgrad": json.dumps({**_TG, "optimizer": 5})}}),
     r"corrupt optimizer state"),
]


@pytest.mark.parametrize("data,pattern", [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_file_raises_clear_checkpoint_error(tmp_path, data, pattern):
    path = tmp_path / "h.safetensors"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(str(path))
    msg = str(info.value)
    assert msg.startswith(str(path)) and re.search(pattern, msg, re.S), msg
    assert len(msg) < 1000, "the message must stay readable (no echo of a hostile header)"


# ---------------------------------------------------------------------------------------------- atomicity
def test_write_is_temp_fsync_rename_then_dir_fsync(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        events.append(("fsync-dir" if (st.st_mode & 0o170000) == 0o040000 else "fsync-file", st.st_size))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(src), os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(tio.os, "fsync", fsync)
    monkeypatch.setattr(tio.os, "replace", replace)
    path = str(tmp_path / "c.safetensors")
    save_checkpoint(path, {"w": np.arange(6, dtype=np.float32)}, None, {"iter_num": 2}, write_json=False)
    size = os.path.getsize(path)
    assert [e[0] for e in events] == ["fsync-file", "replace", "fsync-dir"], events
    assert events[0][1] == size  # the whole file was on disk before the rename
    tmp_name = events[1][1]
    assert tmp_name != "c.safetensors" and tmp_name.endswith(".tmp") and events[1][2] == "c.safetensors"
    assert os.listdir(tmp_path) == ["c.safetensors"]
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


def test_failed_write_keeps_the_old_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch, good_ckpt):
    path = str(tmp_path / "ck.safetensors")
    save_checkpoint(path, {"w": np.ones(3, dtype=np.float32)}, None, {"iter_num": 1})
    before = open(path, "rb").read()

    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tio.os, "fsync", boom)  # the write of the new file fails before the rename
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, {"w": np.zeros(3, dtype=np.float32)}, None, {"iter_num": 2})
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == sorted(["ck.safetensors", "ck.json", "good.safetensors", "good.json"])
    state, _, meta = load_checkpoint(path)
    assert meta["iter_num"] == 1 and state["w"].tolist() == [1.0, 1.0, 1.0]


def test_round_trip_is_exact(good_ckpt):
    state, opt, meta = load_checkpoint(good_ckpt)
    path2 = good_ckpt.replace("good", "again")
    save_checkpoint(path2, state, opt, {k: v for k, v in meta.items() if k not in ("format", "optimizer")})
    assert open(path2, "rb").read() == open(good_ckpt, "rb").read()


def test_foreign_tensorgrad_checkpoint_is_a_clear_error_for_resume_and_sample(tmp_path):
    """A valid tensorgrad checkpoint not written by `tensorgrad train` (no config/tokenizer/RNG metadata)."""
    out = tmp_path / "run"
    save_checkpoint(str(out / "ckpt.safetensors"), {"w": np.ones(2, dtype=np.float32)}, None, {"iter_num": 3})
    with pytest.raises(CheckpointError, match=r"not one written by `tensorgrad train`.*model_config"):
        load_model(str(out))
    for args in (("sample", "--out-dir", str(out), "--num-tokens", "5"),
                 ("train", "--out-dir", str(out), "--resume", "--max-iters", "2", "--quiet", "--no-plot")):
        r = _cli(*args, cwd=str(tmp_path))
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert re.search(r"ckpt\.safetensors: a tensorgrad checkpoint, but not one written by .*lacks .*tokenizer",
                         r.stderr), r.stderr


def test_stale_temp_files_from_a_killed_writer_are_removed(tmp_path):
    from tensorgrad.io import atomic_write_bytes
    target = tmp_path / "ckpt.safetensors"
    stale = tmp_path / ".ckpt.safetensors.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.bin.zzz.tmp"  # another file's temp file is not ours to remove
    other.write_bytes(b"x")
    atomic_write_bytes(str(target), b"new contents")
    assert target.read_bytes() == b"new contents"
    assert not stale.exists() and other.exists()
