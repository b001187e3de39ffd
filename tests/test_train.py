"""train() and the CLI: exact resume, output files, the command line end to end (tiny configs)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tensorgrad.backend import host
from tensorgrad.checkpoint import Checkpointed
from tensorgrad.train import train, TrainConfig, load_model, generate_text, setup, train_step, evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, eval_iters=2, sample_tokens=0,
            verbose=False, plot=False, lr=3e-3, warmup_iters=2, lr_decay_iters=12, log_interval=0)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.one_thread


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("data") / "text.txt"
    p.write_text("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n" * 20,
                 encoding="utf-8")
    return str(p)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_resume_gives_the_same_next_losses(tmp_path, text_file, dropout, dtype):
    full = train(TrainConfig(**TINY, dropout=dropout, dtype=dtype, max_iters=12, eval_interval=6, data=text_file,
                             out_dir=str(tmp_path / "a")))
    part = train(TrainConfig(**TINY, dropout=dropout, dtype=dtype, max_iters=6, eval_interval=6, data=text_file,
                             out_dir=str(tmp_path / "b")))
    assert [l for _, l in part.train_losses] == [l for _, l in full.train_losses[:6]]
    resumed = train(TrainConfig(**TINY, dropout=dropout, dtype=dtype, max_iters=12, eval_interval=6, data=text_file,
                                out_dir=str(tmp_path / "b"), resume=True))
    assert [i for i, _ in resumed.train_losses] == list(range(6, 12))
    assert [l for _, l in resumed.train_losses] == [l for _, l in full.train_losses[6:]]  # bit-exact
    assert resumed.evals == full.evals and resumed.best_val_loss == full.best_val_loss
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


def test_train_writes_checkpoint_plot_and_json(tmp_path, text_file):
    out = str(tmp_path / "o")
    r = train(TrainConfig(**{**TINY, "plot": True, "sample_tokens": 20}, max_iters=4, eval_interval=2,
                          data=text_file, out_dir=out, gradient_accumulation_steps=2))
    assert sorted(os.listdir(out)) == ["ckpt.json", "ckpt.safetensors", "loss.png"]
    with open(os.path.join(out, "loss.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    meta = json.load(open(os.path.join(out, "ckpt.json")))
    assert meta["iter_num"] == 4 and meta["tokenizer"]["type"] == "char" and len(meta["evals"]) == 3
    assert set(meta["rng"]) == {"data", "tensorgrad"} and meta["config"]["gradient_accumulation_steps"] == 2
    assert r.sample is not None and len(r.sample) == 21
    model, tok, _ = load_model(out)
    s = generate_text(model, tok, "To be", 10, seed=1)
    assert s.startswith("To be") and len(s) == 15 and s == generate_text(model, tok, "To be", 10, seed=1)


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "tensorgrad", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_train_then_sample(tmp_path):
    out = str(tmp_path / "run")
    r = _cli("train", "--max-iters", "5", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
             "--batch-size", "2", "--eval-interval", "5", "--eval-iters", "1", "--sample-tokens", "10",
             "--no-bias", "--threads", "1", "--out-dir", out, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "step 5: train loss" in r.stdout and "sample" in r.stdout
    assert os.path.exists(os.path.join(out, "ckpt.safetensors")) and os.path.exists(os.path.join(out, "loss.png"))
    r = _cli("sample", "--out-dir", out, "--start", "def ", "--num-tokens", "12", "--seed", "3", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("def ") and len(r.stdout.rstrip("\n")) >= 12
    # a truncated checkpoint: a clear one-line error, exit code 2, no traceback
    ck = os.path.join(out, "ckpt.safetensors")
    data = open(ck, "rb").read()
    open(ck, "wb").write(data[: len(data) // 3])
    r = _cli("sample", "--out-dir", out, cwd=str(tmp_path))
    assert r.returncode == 2 and "truncated" in r.stderr and "Traceback" not in r.stderr


def test_cli_train_checkpoint_flag(tmp_path):
    out = str(tmp_path / "run")
    args = ("train", "--max-iters", "2", "--n-layer", "2", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
            "--batch-size", "2", "--eval-interval", "2", "--eval-iters", "1", "--sample-tokens", "0", "--no-plot",
            "--threads", "1", "--out-dir", out)
    r = _cli(*args, "--checkpoint", "every=2", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "activation checkpointing: every=2 over 2 blocks" in r.stdout and "step 2: train loss" in r.stdout
    r = _cli(*args, "--checkpoint", "some", cwd=str(tmp_path))
    assert r.returncode == 2 and "checkpoint policy: unknown 'some'" in r.stderr


def test_free_cores_reads_the_idle_share_of_a_short_window(monkeypatch):
    # 2 cores; over the window 100 jiffies passed (both cores), 50 of them idle: one core is taken.
    samples = iter([(1000, 4000), (1050, 4100)])
    monkeypatch.setattr(host, "cpu_times", lambda: next(samples))
    monkeypatch.setattr(host.os, "cpu_count", lambda: 2)
    assert host.free_cores(window=0) == pytest.approx(1.0)
    samples = iter([(1000, 4000), (1100, 4100)])       # all idle: both free
    assert host.free_cores(window=0) == pytest.approx(2.0)
    monkeypatch.setattr(host, "cpu_times", lambda: None)  # no /proc/stat: the load average
    monkeypatch.setattr(host.os, "getloadavg", lambda: (1.5, 0.0, 0.0))
    assert host.free_cores(window=0) == pytest.approx(0.5)


def test_auto_threads_uses_the_free_cores_on_a_busy_machine(monkeypatch):
    calls = []
    monkeypatch.setattr(host, "set_num_threads", calls.append)
    monkeypatch.setattr(host.os, "cpu_count", lambda: 4)
    monkeypatch.setattr(host, "free_cores", lambda: 1.2)
    assert host.auto_threads() == (1, 1.2) and calls == [1]
    monkeypatch.setattr(host, "free_cores", lambda: 3.9)  # idle enough: left as configured
    assert host.auto_threads() == (None, 3.9) and calls == [1]
    assert host.auto_threads(3) == (3, None) and calls == [1, 3]  # asked for: set, nothing measured


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_import_keeps_freed_arrays_in_the_heap_unless_opted_out():
    code = "import tensorgrad; from tensorgrad.backend import host; print(host._applied)"
    for env, want in (({}, "True"), ({"TENSORGRAD_TUNE_MALLOC": "0"}, "False")):
        out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                             check=True).stdout.strip()
        assert out == want, (env, out)


def test_setup_step_evaluate_are_the_loop(tmp_path, text_file):
    """train() is setup + train_step + evaluate (+ saving): driven by hand they give the same losses."""
    cfg = TrainConfig(**TINY, max_iters=4, eval_interval=4, data=text_file, out_dir=str(tmp_path / "a"))
    ref = train(cfg)
    run = setup(cfg, out_dir=str(tmp_path / "b"))
    evaluate(run)
    losses = [train_step(run)[0] for _ in range(4)]
    evaluate(run)
    assert losses == [l for _, l in ref.train_losses] and run.evals == ref.evals and run.iter_num == 4


@pytest.mark.parametrize("policy", ["sqrt", "all", "budget=1KB"])
def test_checkpoint_policy_trains_the_same_and_resumes_exactly(tmp_path, text_file, policy):
    kw = dict(TINY, n_layer=3, dropout=0.1, data=text_file, eval_interval=4)
    plain = train(TrainConfig(**kw, max_iters=8, out_dir=str(tmp_path / "p")))
    full = train(TrainConfig(**kw, max_iters=8, checkpoint=policy, out_dir=str(tmp_path / "a")))
    h = full.model.transformer.h
    assert all(isinstance(b, Checkpointed) for b in list(h)[:2])  # sqrt: [0, 1] + [2]; all and 1 KB: every block
    np.testing.assert_allclose([l for _, l in full.train_losses], [l for _, l in plain.train_losses], rtol=1e-5)
    assert list(full.model.state_dict()) == list(plain.model.state_dict())
    train(TrainConfig(**kw, max_iters=4, checkpoint=policy, out_dir=str(tmp_path / "b")))
    resumed = train(TrainConfig(**kw, max_iters=8, checkpoint=policy, out_dir=str(tmp_path / "b"), resume=True))
    assert [l for _, l in resumed.train_losses] == [l for _, l in full.train_losses[4:]]  # bit-exact
    assert resumed.evals == full.evals
