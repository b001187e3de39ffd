"""tensorgrad.utils.tensorboard (torch.utils.tensorboard under the alias) against torch's SummaryWriter: each case
logs the same values with both writers (tensorgrad Tensors or NumPy arrays on one side, torch tensors on the other)
into two folders, reads both back with tensorboard's EventAccumulator and compares what TensorBoard would show: tags,
steps, values, histogram buckets, decoded image pixels, text, hparams protos, the projector's files. Wall times are
not compared. Also: the ImportError without tensorboard, and a small training loop run under the alias and under
real torch, whose logs must agree."""
import io
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tensorboard = pytest.importorskip("tensorboard")
torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.custom_scalar import layout_pb2  # noqa: E402
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402
from torch.utils.tensorboard import SummaryWriter as TorchWriter  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.utils.tensorboard import SummaryWriter  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(0)


def _tg(a):
    return tg.tensor(a)


def _torch(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def write_both(tmp_path, log):
    """Run ``log(writer, to_tensor)`` with each writer into its own folder; return (tensorgrad dir, torch dir)."""
    dirs = []
    for name, cls, conv in (("tg", SummaryWriter, _tg), ("torch", TorchWriter, _torch)):
        d = tmp_path / name
        with cls(str(d)) as w:
            log(w, conv)
        dirs.append(str(d))
    return dirs


def load(d):
    ea = EventAccumulator(d, size_guidance={k: 0 for k in ("scalars", "histograms", "images", "audio", "tensors",
                                                          "distributions", "compressedHistograms")})
    return ea.Reload()


def both(tmp_path, log):
    return [load(d) for d in write_both(tmp_path, log)]


def scalars(ea, tag):
    return [(e.step, e.value) for e in ea.Scalars(tag)]


def tensors(ea, tag):
    return [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in ea.Tensors(tag)]


def same_tensors(a, b, tag):
    ta, tb = tensors(a, tag), tensors(b, tag)
    assert [s for s, _ in ta] == [s for s, _ in tb]
    for (_, x), (_, y) in zip(ta, tb):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def pixels(encoded):
    return np.asarray(Image.open(io.BytesIO(encoded)))


def same_images(a, b, tag):
    ia, ib = a.Images(tag), b.Images(tag)
    assert len(ia) == len(ib) > 0
    for x, y in zip(ia, ib):
        assert (x.step, x.width, x.height) == (y.step, y.width, y.height)
        np.testing.assert_array_equal(pixels(x.encoded_image_string), pixels(y.encoded_image_string))


# --------------------------------------------------------------------------------------------------------- scalars
def test_scalar_values_steps_and_kinds(tmp_path):
    values = RNG.standard_normal(6)

    def log(w, T):
        for i, v in enumerate(values):
            w.add_scalar("loss/train", float(v), i)               # a Python float
        w.add_scalar("tensor0d", T(np.float32(2.5)), 3)           # a 0-d tensor
        w.add_scalar("tensor1", T(np.array([7.25])), 4)           # a one-element tensor
        w.add_scalar("npscalar", np.float64(1 / 3), np.int64(5))  # NumPy value and step
        w.add_scalar("int", 3, 6)
        w.add_scalar("nostep", 1.5)
    a, b = both(tmp_path, log)
    assert a.Tags()["scalars"] == b.Tags()["scalars"]
    for tag in b.Tags()["scalars"]:
        assert scalars(a, tag) == scalars(b, tag), tag


def test_scalar_of_a_graph_tensor_with_tensor_step_and_walltime(tmp_path):
    w0 = np.array([1.5, -2.0], np.float32)

    def log(w, T):
        p = T(w0).requires_grad_()
        loss = (p * p).sum()  # logged without .item(): the writer detaches it
        w.add_scalar("loss", loss, T(np.array(7)), walltime=1234.5)
        w.add_histogram("p", p, T(np.array(8)), walltime=99.0)
    a, b = both(tmp_path, log)
    assert scalars(a, "loss") == scalars(b, "loss") == [(7, pytest.approx(6.25))]
    assert a.Scalars("loss")[0].wall_time == b.Scalars("loss")[0].wall_time == 1234.5
    assert (a.Histograms("p")[0].step, a.Histograms("p")[0].wall_time) == (8, 99.0)
    assert a.Histograms("p")[0].histogram_value == b.Histograms("p")[0].histogram_value


def test_scalar_new_style_and_double_precision(tmp_path):
    def log(w, T):
        w.add_scalar("f", 1 / 3, 1, new_style=True)
        w.add_scalar("d", T(np.float64(1 / 3)), 2, new_style=True, double_precision=True)
    a, b = both(tmp_path, log)
    for tag in ("f", "d"):
        same_tensors(a, b, tag)
        assert a.summary_metadata[tag] == b.summary_metadata[tag]
    assert tensors(a, "d")[0][1].dtype == np.float64


def test_scalar_refuses_many_elements(tmp_path):
    with SummaryWriter(str(tmp_path / "tg")) as w, pytest.raises(ValueError, match="one element"):
        w.add_scalar("x", tg.ones(3), 0)
    with TorchWriter(str(tmp_path / "torch")) as w, pytest.raises(AssertionError):
        w.add_scalar("x", torch.ones(3), 0)


def test_add_scalars_writes_subfolders(tmp_path):
    def log(w, T):
        for step in range(3):
            w.add_scalars("run/loss", {"train": 1.0 / (step + 1), "val": T(np.float32(step * 0.5))}, step)
    da, db = write_both(tmp_path, log)
    assert sorted(os.listdir(da)) != [] and sorted(n for n in os.listdir(da) if not n.startswith("events")) == \
        sorted(n for n in os.listdir(db) if not n.startswith("events"))
    for sub in ("run_loss_train", "run_loss_val"):
        a, b = load(os.path.join(da, sub)), load(os.path.join(db, sub))
        assert a.Tags()["scalars"] == b.Tags()["scalars"] == ["run/loss"]
        assert scalars(a, "run/loss") == scalars(b, "run/loss")


# ------------------------------------------------------------------------------------------------------ histograms
@pytest.mark.parametrize("bins", ["tensorflow", "auto", "fd", "doane", 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_histogram_buckets(tmp_path, bins, dtype):
    vals = (RNG.standard_normal((5, 40)) * 3).astype(dtype)

    def log(w, T):
        w.add_histogram("w", T(vals), 0, bins=bins)
        w.add_histogram("np", vals, 1, bins=bins)
        w.add_histogram("w", T(vals[:2] + 1), 2, bins=bins, max_bins=5)
    a, b = both(tmp_path, log)
    assert a.Tags()["histograms"] == b.Tags()["histograms"]
    for tag in ("w", "np"):
        ha, hb = a.Histograms(tag), b.Histograms(tag)
        assert [e.step for e in ha] == [e.step for e in hb]
        for x, y in zip(ha, hb):
            assert x.histogram_value == y.histogram_value


def test_histogram_special_inputs(tmp_path):
    def log(w, T):
        w.add_histogram("const", T(np.full(10, 2.0, np.float32)), 0)
        w.add_histogram("zeros", T(np.zeros(4)), 0)
        w.add_histogram("one", T(np.array([-5.0])), 0)
        w.add_histogram("half", T(np.array([0.5, -1.25, 3.0], np.float16)), 0)
    a, b = both(tmp_path, log)
    for tag in ("const", "zeros", "one", "half"):
        assert a.Histograms(tag)[0].histogram_value == b.Histograms(tag)[0].histogram_value, tag
    with SummaryWriter(str(tmp_path / "e")) as w, pytest.raises(ValueError, match="no element"):
        w.add_histogram("empty", tg.zeros(0), 0)


def test_histogram_of_bfloat16(tmp_path):
    vals = np.array([0.5, -1.25, 3.0, 100.0], np.float32)
    da = tmp_path / "tg"
    with SummaryWriter(str(da)) as w:
        w.add_histogram("b", tg.tensor(vals).to(tg.bfloat16), 0)
    with TorchWriter(str(tmp_path / "torch")) as w:
        w.add_histogram("b", torch.from_numpy(vals).to(torch.bfloat16), 0)
    assert load(str(da)).Histograms("b")[0].histogram_value == \
        load(str(tmp_path / "torch")).Histograms("b")[0].histogram_value


def test_histogram_raw(tmp_path):
    def log(w, T):
        w.add_histogram_raw("raw", min=-1.0, max=4.0, num=6, sum=7.0, sum_squares=21.0,
                            bucket_limits=[0.0, 2.0, 4.0], bucket_counts=[1, 3, 2], global_step=3)
    a, b = both(tmp_path, log)
    assert a.Histograms("raw")[0].histogram_value == b.Histograms("raw")[0].histogram_value
    with SummaryWriter(str(tmp_path / "e")) as w, pytest.raises(ValueError, match="bucket_counts"):
        w.add_histogram_raw("raw", 0, 1, 1, 1, 1, [1.0, 2.0], [1])


# ---------------------------------------------------------------------------------------------------------- images
IMAGE_CASES = [
    ("chw_float", lambda: RNG.random((3, 9, 7)).astype(np.float32), "CHW", "add_image"),
    ("hwc_uint8", lambda: RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8), "HWC", "add_image"),
    ("hwc_rgba", lambda: RNG.integers(0, 256, (4, 6, 4), dtype=np.uint8), "HWC", "add_image"),
    ("chw_gray", lambda: RNG.random((1, 5, 5)), "CHW", "add_image"),
    ("hw", lambda: RNG.random((4, 3)).astype(np.float32), "HW", "add_image"),
    ("out_of_range", lambda: (RNG.standard_normal((3, 4, 4)) * 2).astype(np.float32), "CHW", "add_image"),
    ("nchw", lambda: RNG.random((11, 3, 4, 5)).astype(np.float32), "NCHW", "add_images"),
    ("nhwc_gray", lambda: RNG.integers(0, 256, (3, 4, 4, 1), dtype=np.uint8), "NHWC", "add_images"),
]


@pytest.mark.parametrize("name,make,fmt,method", IMAGE_CASES, ids=[c[0] for c in IMAGE_CASES])
def test_images_decode_to_the_same_pixels(tmp_path, name, make, fmt, method):
    img = make()

    def log(w, T):
        getattr(w, method)(name, T(img), 2, dataformats=fmt)
        getattr(w, method)(name + "_np", img, 3, dataformats=fmt)
    a, b = both(tmp_path, log)
    same_images(a, b, name)
    same_images(a, b, name + "_np")


def test_image_default_dataformats_and_errors(tmp_path):
    img = RNG.random((3, 4, 6)).astype(np.float32)
    a, b = both(tmp_path, lambda w, T: w.add_image("x", T(img)))
    same_images(a, b, "x")
    with SummaryWriter(str(tmp_path / "e")) as w:
        with pytest.raises(ValueError, match="dataformats"):
            w.add_image("bad", tg.rand(3, 4, 4), dataformats="NCHW")
        with pytest.raises(ValueError, match="twice"):
            w.add_image("bad", tg.rand(3, 4, 4), dataformats="CCW")


def test_image_with_boxes(tmp_path):
    img = RNG.random((3, 32, 40)).astype(np.float32)
    boxes = np.array([[2, 3, 20, 25], [10, 5, 35, 30]], np.float32)

    def log(w, T):
        w.add_image_with_boxes("boxes", T(img), T(boxes), 0, labels=["cat", "dog"])
        w.add_image_with_boxes("nolabels", T(img), T(boxes), 1, labels=["only one"])
    a, b = both(tmp_path, log)
    same_images(a, b, "boxes")
    same_images(a, b, "nolabels")


def test_figure(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def fig(k):
        f = plt.figure(figsize=(2, 1.5), dpi=40)
        plt.plot(np.arange(5) * k)
        return f

    def log(w, T):
        w.add_figure("one", fig(1), 0)
        w.add_figure("many", [fig(1), fig(2)], 1)
        kept = fig(3)
        w.add_figure("kept", kept, 2, close=False)
        assert plt.fignum_exists(kept.number)
        plt.close(kept)
    a, b = both(tmp_path, log)
    for tag in ("one", "many", "kept"):
        same_images(a, b, tag)


def test_video_frames(tmp_path):
    # torch encodes with moviepy (not installed here); the frames must be laid out as torch's _prepare_video lays them
    from torch.utils.tensorboard._utils import _prepare_video
    levels = np.array([0, 64, 128, 255], np.uint8)
    clip = levels[RNG.integers(0, 4, (3, 4, 3, 6, 5))]  # few colours: the GIF palette holds them exactly
    with SummaryWriter(str(tmp_path)) as w:
        w.add_video("clip", tg.tensor(clip), 1, fps=5)
    ev = load(str(tmp_path)).Images("clip")[0]
    gif = Image.open(io.BytesIO(ev.encoded_image_string))
    frames = []
    for i in range(gif.n_frames):
        gif.seek(i)
        frames.append(np.asarray(gif.convert("RGB")))
    want = (_prepare_video(clip) * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(np.stack(frames), want)
    assert gif.info["duration"] == 200 and (ev.width, ev.height) == (want.shape[2], want.shape[1])


def test_audio(tmp_path):
    snd = (np.sin(np.linspace(0, 20, 300)) * 0.9).astype(np.float32)
    a, b = both(tmp_path, lambda w, T: w.add_audio("snd", T(snd), 0, sample_rate=8000))
    xa, xb = a.Audio("snd")[0], b.Audio("snd")[0]
    assert xa.encoded_audio_string == xb.encoded_audio_string
    assert (xa.sample_rate, xa.length_frames, xa.content_type) == (xb.sample_rate, xb.length_frames, xb.content_type)


# ------------------------------------------------------------------------------------------ text, tensors, layouts
def test_text(tmp_path):
    def log(w, T):
        w.add_text("notes", "# Run\n*lr* = 0.1, ünïcode", 0)
        w.add_text("notes", "second", 5)
    a, b = both(tmp_path, log)
    same_tensors(a, b, "notes/text_summary")
    assert tensors(a, "notes/text_summary")[1][1].tolist() == [b"second"]
    assert a.summary_metadata["notes/text_summary"] == b.summary_metadata["notes/text_summary"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.uint8, np.bool_, np.float16])
def test_add_tensor(tmp_path, dtype):
    vals = (RNG.standard_normal((2, 3)) * 4).astype(dtype)
    a, b = both(tmp_path, lambda w, T: w.add_tensor("t", T(vals), 1))
    ta, tb = a.Tensors("t")[0].tensor_proto, b.Tensors("t")[0].tensor_proto
    assert ta == tb


def test_custom_scalars(tmp_path):
    layout = {"Losses": {"loss": ["Multiline", ["loss/train", "loss/val"]]},
              "Bands": {"acc": ["Margin", ["acc", "acc_lo", "acc_hi"]]}}

    def log(w, T):
        w.add_custom_scalars(layout)
    a, b = both(tmp_path, log)
    la, lb = (layout_pb2.Layout.FromString(tensors(x, "custom_scalars__config__")[0][1].item()) for x in (a, b))
    assert la == lb and len(la.category) == 2
    a, b = both(tmp_path / "m", lambda w, T: w.add_custom_scalars_marginchart(["v", "lo", "hi"], "c", "t"))
    same_tensors(a, b, "custom_scalars__config__")
    a, b = both(tmp_path / "l", lambda w, T: w.add_custom_scalars_multilinechart(["x", "y"]))
    same_tensors(a, b, "custom_scalars__config__")


def test_pr_curve(tmp_path):
    labels = RNG.integers(0, 2, 50)
    preds = RNG.random(50).astype(np.float32)

    def log(w, T):
        w.add_pr_curve("pr", T(labels), T(preds), 0)
        w.add_pr_curve("pr", T(labels), T(preds), 1, num_thresholds=10)
        tp, fp = np.array([5.0, 3.0, 1.0]), np.array([4.0, 2.0, 0.0])
        w.add_pr_curve_raw("raw", tp, fp, 4 - fp, 5 - tp, tp / np.maximum(tp + fp, 1), tp / 5, 2, num_thresholds=3)
    a, b = both(tmp_path, log)
    for tag in ("pr", "raw"):
        same_tensors(a, b, tag)
        assert a.summary_metadata[tag] == b.summary_metadata[tag]


def test_mesh(tmp_path):
    verts = RNG.standard_normal((1, 4, 3)).astype(np.float32)
    colors = RNG.integers(0, 256, (1, 4, 3)).astype(np.float32)
    faces = np.array([[[0, 1, 2], [1, 2, 3]]], np.float32)

    def log(w, T):
        w.add_mesh("m", T(verts), colors=T(colors), faces=T(faces), config_dict={"camera": {"fov": 75}},
                   global_step=2)
    a, b = both(tmp_path, log)
    assert sorted(a.Tags()["tensors"]) == sorted(b.Tags()["tensors"])
    for tag in b.Tags()["tensors"]:
        same_tensors(a, b, tag)
        assert a.summary_metadata[tag] == b.summary_metadata[tag]


# ---------------------------------------------------------------------------------------------------------- hparams
def _hparams_run(d, run):
    ea = load(os.path.join(d, run))
    content = ea.PluginTagToContent("hparams")
    return ea, {tag: HParamsPluginData.FromString(c) for tag, c in content.items()}


def test_hparams(tmp_path):
    def log(w, T):
        w.add_hparams({"lr": 0.01, "bs": 32, "opt": "adam", "bn": True, "skip": None, "wd": T(np.array([1e-4]))},
                      {"hparam/acc": 0.9, "hparam/loss": T(np.float32(0.25))}, run_name="trial1")
        w.add_hparams({"lr": 0.1, "opt": "sgd"}, {"hparam/acc": 0.5},
                      hparam_domain_discrete={"opt": ["sgd", "adam"]}, run_name="trial2", global_step=3)
    da, db = write_both(tmp_path, log)
    for run in ("trial1", "trial2"):
        (ea, ca), (eb, cb) = _hparams_run(da, run), _hparams_run(db, run)
        assert ca == cb and len(ca) == 3
        assert ea.Tags()["scalars"] == eb.Tags()["scalars"]
        for tag in eb.Tags()["scalars"]:
            assert scalars(ea, tag) == scalars(eb, tag)
    start = _hparams_run(da, "trial1")[1]["_hparams_/session_start_info"].session_start_info
    assert start.hparams["opt"].string_value == "adam" and "skip" not in start.hparams
    assert start.hparams["wd"].number_value == pytest.approx(1e-4)


def test_hparams_errors():
    from tensorgrad.utils.tensorboard.summary import hparams
    with pytest.raises(TypeError, match="hparam_dict"):
        hparams([("lr", 1)], {})
    with pytest.raises(TypeError, match="hparam_domain_discrete"):
        hparams({"opt": "sgd"}, {}, {"opt": [1, 2]})
    with pytest.raises(ValueError, match="'x'.*list"):
        hparams({"x": [1, 2]}, {})


# ------------------------------------------------------------------------------------------------------- embeddings
def test_embedding_files(tmp_path):
    mat = RNG.standard_normal((6, 4)).astype(np.float32)
    imgs = RNG.random((6, 3, 5, 5)).astype(np.float32)

    def log(w, T):
        w.add_embedding(T(mat), metadata=list("abcdef"), label_img=T(imgs), global_step=1, tag="feat/x")
        w.add_embedding(mat, metadata=[[i, i % 2] for i in range(6)], metadata_header=["id", "odd"], tag="cols")
    da, db = write_both(tmp_path, log)
    for rel in ("projector_config.pbtxt", "00001/feat%2fx/tensors.tsv", "00001/feat%2fx/metadata.tsv",
                "00000/cols/tensors.tsv", "00000/cols/metadata.tsv"):
        with open(os.path.join(da, rel), "rb") as fa, open(os.path.join(db, rel), "rb") as fb:
            assert fa.read() == fb.read(), rel
    sprite = "00001/feat%2fx/sprite.png"
    np.testing.assert_array_equal(pixels(open(os.path.join(da, sprite), "rb").read()),
                                  pixels(open(os.path.join(db, sprite), "rb").read()))


# ------------------------------------------------------------------------------------------- the writer's life cycle
def test_default_logdir_and_comment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1")
    try:
        assert re.fullmatch(r"runs/[A-Z][a-z]{2}\d\d_\d\d-\d\d-\d\d_" + re.escape(socket.gethostname()) + "_lr0.1",
                            w.get_logdir())
        assert os.path.isdir(w.get_logdir())
    finally:
        w.close()


def test_purge_step(tmp_path):
    def run(cls, d):
        with cls(d) as w:
            for s in range(6):
                w.add_scalar("x", float(s), s)
        with cls(d, purge_step=3) as w:  # a resumed run: steps 3.. of the first one are dropped
            for s in range(3, 5):
                w.add_scalar("x", 10.0 + s, s)
        return scalars(load(d), "x")
    got = run(SummaryWriter, str(tmp_path / "tg"))
    assert got == run(TorchWriter, str(tmp_path / "torch"))
    assert got == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 13.0), (4, 14.0)]


def test_flush_close_reopen_and_suffix(tmp_path):
    d = str(tmp_path)
    w = SummaryWriter(d, max_queue=100, flush_secs=1000, filename_suffix=".v2")
    w.add_scalar("x", 1.0, 0)
    w.flush()  # readable without close
    assert scalars(load(d), "x") == [(0, 1.0)]
    w.close()
    w.close()  # a second close does nothing, as torch's
    w.add_scalar("x", 2.0, 1)  # after close: a new event file
    w.close()
    files = [f for f in os.listdir(d) if f.startswith("events.out.tfevents")]
    assert len(files) == 2 and all(f.endswith(".v2") for f in files)
    assert scalars(load(d), "x") == [(0, 1.0), (1, 2.0)]


def test_add_graph_is_refused(tmp_path):
    with SummaryWriter(str(tmp_path)) as w, pytest.raises(NotImplementedError, match="TorchScript"):
        w.add_graph(tg.nn.Linear(2, 2), tg.randn(1, 2))


def test_import_without_tensorboard_says_how_to_install():
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "try:\n    import tensorgrad.utils.tensorboard\n"
            "except ImportError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO), timeout=120)
    assert "TensorBoard logging requires TensorBoard" in out.stdout and "pip install tensorboard" in out.stdout, \
        out.stdout + out.stderr


# --------------------------------------------------------------------------------------------- under the alias
SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((32, 4)).astype(np.float32))
    y = x @ torch.from_numpy(np.array([[1.0], [-2.0], [0.5], [3.0]], np.float32)) + 0.1
    model = torch.nn.Linear(4, 1)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(rng.standard_normal((1, 4)).astype(np.float32)))
        model.bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with SummaryWriter(sys.argv[1]) as writer:
        for step in range(20):
            loss = torch.nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            writer.add_scalar("loss", loss.item(), step)
            if step % 5 == 0:
                writer.add_histogram("weight", model.weight, step)
                writer.add_histogram("weight_grad", model.weight.grad, step)
        writer.add_image("x", (x[:8].T.unsqueeze(0) - x.min()) / (x.max() - x.min()), 0)
        writer.add_hparams({"lr": 0.05}, {"final_loss": loss.item()}, run_name="hp")
    print(torch.__name__, "done")
""")


def test_training_loop_under_the_alias(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    logs = {}
    for kind, prefix in (("torch", []), ("alias", ["-m", "tensorgrad.compat"])):
        d = str(tmp_path / kind)
        out = subprocess.run([sys.executable, *prefix, str(script), d], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
        assert out.returncode == 0 and "done" in out.stdout, out.stderr
        logs[kind] = d
    a, b = load(logs["alias"]), load(logs["torch"])
    assert a.Tags()["scalars"] == b.Tags()["scalars"] == ["loss"]
    la, lb = scalars(a, "loss"), scalars(b, "loss")
    assert [s for s, _ in la] == list(range(20)) == [s for s, _ in lb]
    np.testing.assert_allclose([v for _, v in la], [v for _, v in lb], rtol=1e-4)
    assert la[-1][1] < la[0][1] / 2
    for tag in ("weight", "weight_grad"):
        ha, hb = a.Histograms(tag), b.Histograms(tag)
        assert [e.step for e in ha] == [0, 5, 10, 15] == [e.step for e in hb]
        for x, y in zip(ha, hb):
            np.testing.assert_allclose([x.histogram_value.min, x.histogram_value.max, x.histogram_value.sum],
                                       [y.histogram_value.min, y.histogram_value.max, y.histogram_value.sum],
                                       rtol=1e-4, atol=1e-6)
    ia, ib = a.Images("x")[0], b.Images("x")[0]
    assert np.abs(pixels(ia.encoded_image_string).astype(int) - pixels(ib.encoded_image_string)).max() <= 1
    ha, hb = _hparams_run(logs["alias"], "hp"), _hparams_run(logs["torch"], "hp")
    assert ha[1] == hb[1]
    np.testing.assert_allclose(scalars(ha[0], "final_loss")[0][1], scalars(hb[0], "final_loss")[0][1], rtol=1e-4)
