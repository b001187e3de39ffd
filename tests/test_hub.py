"""tensorgrad.hub (torch.hub's download half) against torch.hub: the same cache paths, bytes, hash checks and
errors, on file:// URLs (no network), and the checkpoint read back through tensorgrad.load."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.hub as th

import tensorgrad as tg
import tensorgrad.hub as hub
from helpers import raises


@pytest.fixture
def served(tmp_path):
    """A tensorgrad checkpoint under a name carrying its SHA-256 prefix, and its file:// URL."""
    sd = {"w": tg.tensor(np.arange(6.0).reshape(2, 3)), "b": tg.ones(3, dtype=tg.float64)}
    plain = tmp_path / "plain.pt"
    tg.save(sd, str(plain))
    digest = hashlib.sha256(plain.read_bytes()).hexdigest()
    src = tmp_path / "srv" / f"net-{digest[:8]}.pth"
    src.parent.mkdir()
    plain.rename(src)
    return sd, src, src.as_uri(), digest


def test_get_dir_follows_the_environment_as_torch(monkeypatch, tmp_path):
    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert hub.get_dir() == th.get_dir()
        assert hub._get_torch_home() == th._get_torch_home()


def test_set_dir(tmp_path):
    old = hub._hub_dir
    try:
        hub.set_dir(tmp_path / "mine")
        assert hub.get_dir() == str(tmp_path / "mine")
    finally:
        hub._hub_dir = old


def test_download_url_to_file_same_bytes_as_torch(served, tmp_path):
    _, src, url, digest = served
    hub.download_url_to_file(url, str(tmp_path / "ours"), hash_prefix=digest[:10], progress=False)
    th.download_url_to_file(url, str(tmp_path / "theirs"), hash_prefix=digest[:10], progress=False)
    assert (tmp_path / "ours").read_bytes() == (tmp_path / "theirs").read_bytes() == src.read_bytes()


def test_wrong_hash_refused_and_nothing_left_behind(served, tmp_path):
    _, _, url, digest = served
    bad = "0" * 8 if not digest.startswith("0" * 8) else "f" * 8
    for mod, name in ((hub, "ours"), (th, "theirs")):
        d = tmp_path / name
        d.mkdir()
        with raises(RuntimeError, "invalid hash value", bad):
            mod.download_url_to_file(url, str(d / "f.pth"), hash_prefix=bad, progress=False)
        assert os.listdir(d) == []


def test_missing_url_raises_as_torch(tmp_path):
    url = (tmp_path / "nope.pth").as_uri()
    for mod in (hub, th):
        with pytest.raises(OSError):
            mod.download_url_to_file(url, str(tmp_path / "x"), progress=False)
    assert not (tmp_path / "x").exists()


def test_load_state_dict_from_url_caches_where_torch_does(served, tmp_path, capsys):
    sd, src, url, _ = served
    model_dir = tmp_path / "ckpt"
    got = hub.load_state_dict_from_url(url, model_dir=str(model_dir), map_location="cpu", check_hash=True,
                                       progress=False, weights_only=True)
    assert sorted(got) == sorted(sd)
    for k in sd:
        np.testing.assert_array_equal(got[k].numpy(), sd[k].numpy())
    assert f'Downloading: "{url}" to {model_dir / src.name}' in capsys.readouterr().out
    assert os.listdir(model_dir) == [src.name]
    # the cached file is read again without a download (the source may be gone)
    src.unlink()
    again = hub.load_state_dict_from_url(url, model_dir=str(model_dir), progress=False)
    np.testing.assert_array_equal(again["w"].numpy(), sd["w"].numpy())
    assert "Downloading" not in capsys.readouterr().out


def test_file_name_and_default_dir(served, tmp_path, monkeypatch):
    sd, _, url, _ = served
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    hub.load_state_dict_from_url(url, file_name="renamed.pt", progress=False)
    assert os.path.exists(os.path.join(th.get_dir(), "checkpoints", "renamed.pt"))


def test_check_hash_on_a_corrupt_file_refused(tmp_path):
    src = tmp_path / "model-deadbeef.pth"
    tg.save({"a": tg.ones(2)}, str(src))
    with raises(RuntimeError, "invalid hash value", "deadbeef"):
        hub.load_state_dict_from_url(src.as_uri(), model_dir=str(tmp_path / "c"), check_hash=True, progress=False)
    assert os.listdir(tmp_path / "c") == []


def test_torch_checkpoint_refused_with_the_conversion_named(tmp_path):
    src = tmp_path / "tnet.pth"
    torch.save({"w": torch.ones(2)}, str(src))
    with raises(Exception, "torch.save", "safetensors"):
        hub.load_state_dict_from_url(src.as_uri(), model_dir=str(tmp_path / "c"), progress=False)


def test_under_the_alias(served, tmp_path):
    _, _, url, _ = served
    code = ("import tensorgrad.compat; tensorgrad.compat.install()\n"
            "import torch, torch.hub\n"
            "from torch.hub import load_state_dict_from_url, download_url_to_file\n"
            "from torch.utils import model_zoo\n"
            f"sd = torch.hub.load_state_dict_from_url({url!r}, model_dir={str(tmp_path / 'a')!r}, progress=False)\n"
            f"sd2 = model_zoo.load_url({url!r}, model_dir={str(tmp_path / 'b')!r}, progress=False)\n"
            "print(sorted(sd), torch.equal(sd['w'], sd2['w']), torch.hub.HASH_REGEX.search('r-ab12.pth').group(1))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "['b', 'w'] True ab12" in out.stdout
