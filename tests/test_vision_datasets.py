"""tensorgrad.vision.datasets and utils on small synthetic files written in the exact formats torchvision reads
(IDX files under root/<Name>/raw, gzipped or not; CIFAR's pickled python batches; a class-per-folder image tree),
and make_grid / save_image against a NumPy construction and a PNG round trip."""
import gzip
import hashlib
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

import tensorgrad as tg
from tensorgrad.utils.data import DataLoader
from tensorgrad.vision import datasets, transforms
from tensorgrad.vision.utils import make_grid, save_image


def write_idx(path, arr, compress=False):
    code = {np.uint8: 8, np.int8: 9, np.int16: 11, np.int32: 12, np.float32: 13, np.float64: 14}[arr.dtype.type]
    data = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data += arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(data)


def make_mnist(root, name="MNIST", n_train=12, n_test=5, compress=False, seed=0):
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, name, "raw")
    os.makedirs(raw, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(os.path.join(raw, f"{split}-images-idx3-ubyte{suffix}"), images, compress)
        write_idx(os.path.join(raw, f"{split}-labels-idx1-ubyte{suffix}"), labels, compress)
        out[split] = (images, labels)
    return out


@pytest.mark.parametrize("cls", [datasets.MNIST, datasets.FashionMNIST, datasets.KMNIST])
@pytest.mark.parametrize("compress", [False, True])
def test_mnist_family_reads_torchvisions_raw_layout(tmp_path, cls, compress):
    want = make_mnist(str(tmp_path), cls.__name__, compress=compress)
    for train, split in ((True, "train"), (False, "t10k")):
        ds = cls(str(tmp_path), train=train)
        images, labels = want[split]
        assert len(ds) == len(images)
        assert ds.data.dtype == np.uint8 and tuple(ds.data.shape) == images.shape
        assert ds.targets.dtype == np.int64
        np.testing.assert_array_equal(ds.targets.numpy(), labels)
        img, target = ds[3]
        assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (28, 28)
        np.testing.assert_array_equal(np.asarray(img), images[3])
        assert target == int(labels[3]) and type(target) is int
    assert len(ds.classes) == 10 and ds.class_to_idx[ds.classes[4]] == 4
    assert "Split: Test" in repr(ds)


def test_mnist_transforms_and_dataloader(tmp_path):
    images, labels = make_mnist(str(tmp_path))["train"]
    t = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(str(tmp_path), train=True, download=True, transform=t, target_transform=lambda y: y + 100)
    x, y = ds[0]
    np.testing.assert_allclose(x.numpy()[0], (images[0] / np.float32(255) - np.float32(0.1307)) / np.float32(0.3081),
                               rtol=1e-6, atol=1e-6)
    assert y == int(labels[0]) + 100
    batches = list(DataLoader(ds, batch_size=5))
    assert [tuple(b[0].shape) for b in batches] == [(5, 1, 28, 28), (5, 1, 28, 28), (2, 1, 28, 28)]
    np.testing.assert_array_equal(batches[1][1].numpy(), labels[5:10].astype(np.int64) + 100)


def test_mnist_missing_files_and_bad_idx(tmp_path):
    with pytest.raises(RuntimeError, match="Dataset not found"):
        datasets.MNIST(str(tmp_path))
    make_mnist(str(tmp_path))
    path = os.path.join(str(tmp_path), "MNIST", "raw", "train-images-idx3-ubyte")
    with open(path, "wb") as f:
        f.write(b"\x01\x02\x03\x04garbage")
    with pytest.raises(ValueError, match="not an IDX file"):
        datasets.MNIST(str(tmp_path))
    write_idx(path, np.zeros((2, 28), np.uint8))
    with pytest.raises(ValueError, match="3 dimension"):
        datasets.MNIST(str(tmp_path))


def test_mnist_download_from_a_mirror_lays_out_files_as_torchvision(tmp_path):
    # a file:// mirror holding the .gz files stands in for the network: the download checks their md5s and
    # unpacks them next to the archives, as torchvision does
    mirror = tmp_path / "mirror"
    want = make_mnist(str(mirror), "x", compress=True)
    src = mirror / "x" / "raw"

    def md5(name):
        return hashlib.md5((src / name).read_bytes()).hexdigest()

    class LocalMNIST(datasets.MNIST):
        mirrors = ["file:///nonexistent/", src.as_uri() + "/"]
        resources = [(n, md5(n)) for n in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                            "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]

    root = tmp_path / "data"
    ds = LocalMNIST(str(root), train=False, download=True)
    raw = root / "LocalMNIST" / "raw"
    assert sorted(os.listdir(raw)) == sorted(n for r in LocalMNIST.resources for n in (r[0], r[0][:-3]))
    np.testing.assert_array_equal(ds.data.numpy(), want["t10k"][0])

    class Offline(datasets.MNIST):
        mirrors = ["file:///nonexistent/a/", "file:///nonexistent/b/"]

    with pytest.raises(RuntimeError, match="Error downloading train-images-idx3-ubyte.gz") as e:
        Offline(str(tmp_path / "none"), download=True)
    assert "Tried file:///nonexistent/a/" in str(e.value) and "Tried file:///nonexistent/b/" in str(e.value)

    class Corrupt(LocalMNIST):
        resources = [(n, "0" * 32) for n, _ in LocalMNIST.resources]

    with pytest.raises(RuntimeError, match="does not have md5"):
        Corrupt(str(tmp_path / "bad"), download=True)


def _write_pickle(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def make_cifar(root, n_per_batch=4, hundred=False, seed=0):
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-100-python" if hundred else "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    names = (["train"], ["test"]) if hundred else ([f"data_batch_{i}" for i in range(1, 6)], ["test_batch"])
    key = "fine_labels" if hundred else "labels"
    out = {}
    for split, files in zip(("train", "test"), names):
        datas, labels = [], []
        for name in files:
            data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
            lab = [int(v) for v in rng.integers(0, 100 if hundred else 10, n_per_batch)]
            _write_pickle(os.path.join(folder, name), {"data": data, key: lab, "batch_label": "synthetic"})
            datas.append(data)
            labels += lab
        out[split] = (np.vstack(datas).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels)
    meta_name, meta_key = ("meta", "fine_label_names") if hundred else ("batches.meta", "label_names")
    classes = [f"class{i}" for i in range(100 if hundred else 10)]
    _write_pickle(os.path.join(folder, meta_name), {meta_key: classes})
    return out, classes


class TinyCIFAR10(datasets.CIFAR10):  # no md5s: the synthetic batches are not the real ones
    train_list = [[n, None] for n, _ in datasets.CIFAR10.train_list]
    test_list = [["test_batch", None]]
    meta = dict(datasets.CIFAR10.meta, md5=None)


class TinyCIFAR100(datasets.CIFAR100):
    train_list = [["train", None]]
    test_list = [["test", None]]
    meta = dict(datasets.CIFAR100.meta, md5=None)


@pytest.mark.parametrize("cls,hundred", [(TinyCIFAR10, False), (TinyCIFAR100, True)])
def test_cifar_reads_python_batches(tmp_path, cls, hundred):
    want, classes = make_cifar(str(tmp_path), hundred=hundred)
    for train, split in ((True, "train"), (False, "test")):
        ds = cls(str(tmp_path), train=train, transform=transforms.ToTensor())
        images, labels = want[split]
        assert len(ds) == len(labels) and ds.data.shape == images.shape and ds.targets == labels
        x, y = ds[len(ds) - 1]
        np.testing.assert_array_equal(x.numpy(), images[-1].transpose(2, 0, 1) / np.float32(255))
        assert y == labels[-1]
    assert ds.classes == classes and ds.class_to_idx["class3"] == 3


def test_cifar_checks_md5_and_refuses_code_in_pickles(tmp_path):
    make_cifar(str(tmp_path))
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        datasets.CIFAR10(str(tmp_path))  # the real md5s do not match the synthetic files

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    _write_pickle(os.path.join(str(tmp_path), "cifar-10-batches-py", "test_batch"), {"data": Evil(), "labels": []})
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        TinyCIFAR10(str(tmp_path), train=False)


def make_image_folder(root, seed=0):
    rng = np.random.default_rng(seed)
    files = {}
    for cls, n in (("dog", 2), ("cat", 3), ("bird", 1)):
        os.makedirs(os.path.join(root, cls, "sub"), exist_ok=True)
        for i in range(n):
            a = rng.integers(0, 256, (5 + i, 6, 3), dtype=np.uint8)
            path = os.path.join(root, cls, "sub" if i == 1 else "", f"img{i}.png")
            Image.fromarray(a).save(path)
            files[path] = a
        open(os.path.join(root, cls, "notes.txt"), "w").write("not an image")
    return files


def test_image_folder(tmp_path):
    files = make_image_folder(str(tmp_path))
    ds = datasets.ImageFolder(str(tmp_path))
    assert ds.classes == ["bird", "cat", "dog"] and ds.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    # sorted class by class, each folder walked in sorted order; the .txt files are left out
    assert [os.path.relpath(p, str(tmp_path)) for p, _ in ds.samples] == [
        "bird/img0.png", "cat/img0.png", "cat/img2.png", "cat/sub/img1.png", "dog/img0.png", "dog/sub/img1.png"]
    assert ds.targets == [0, 1, 1, 1, 2, 2] and ds.imgs == ds.samples
    for k in range(len(ds)):
        img, target = ds[k]
        assert img.mode == "RGB" and target == ds.targets[k]
        np.testing.assert_array_equal(np.asarray(img), files[ds.samples[k][0]])
    txt = datasets.DatasetFolder(str(tmp_path), loader=lambda p: open(p).read(), extensions=(".txt",))
    assert len(txt) == 3 and txt[0] == ("not an image", 0)
    only_cat = datasets.ImageFolder(str(tmp_path), is_valid_file=lambda p: "cat" in p and p.endswith(".png"),
                                    allow_empty=True)
    assert only_cat.targets == [1, 1, 1]
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes bird, dog"):
        datasets.ImageFolder(str(tmp_path), is_valid_file=lambda p: "cat" in p)
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        datasets.ImageFolder(str(tmp_path / "dog" / "sub"))


def test_fake_data_is_seeded_per_index_and_leaves_the_rng_alone():
    ds = datasets.FakeData(size=4, image_size=(3, 8, 6), num_classes=5, transform=transforms.PILToTensor())
    tg.manual_seed(123)
    before = tg.rand(3).numpy()
    tg.manual_seed(123)
    a = [ds[i] for i in range(4)]
    np.testing.assert_array_equal(tg.rand(3).numpy(), before)
    b = [ds[i] for i in range(4)]
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        assert ya == yb and 0 <= ya < 5 and type(ya) is int
    assert tuple(a[0][0].shape) == (3, 8, 6) and not np.array_equal(a[0][0].numpy(), a[1][0].numpy())
    with pytest.raises(IndexError):
        ds[4]


def _grid_numpy(x, nrow, padding, pad_value):
    n, c, h, w = x.shape
    if c == 1:
        x = np.repeat(x, 3, axis=1)
    cols = min(nrow, n)
    rows = -(-n // cols)
    g = np.full((3 if c == 1 else c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value,
                x.dtype)
    for k in range(n):
        r, q = divmod(k, cols)
        g[:, r * (h + padding) + padding:(r + 1) * (h + padding), q * (w + padding) + padding:(q + 1) * (w + padding)] \
            = x[k]
    return g


@pytest.mark.parametrize("n,c,nrow,padding", [(5, 3, 2, 2), (7, 1, 8, 0), (4, 3, 3, 1), (1, 3, 8, 2)])
def test_make_grid(n, c, nrow, padding):
    x = np.random.default_rng(n).random((n, c, 4, 5)).astype(np.float32)
    g = make_grid(tg.from_numpy(x), nrow=nrow, padding=padding, pad_value=0.25).numpy()
    want = x[0] if n == 1 else _grid_numpy(x, nrow, padding, np.float32(0.25))
    np.testing.assert_array_equal(g, want)
    if n > 1:
        g = make_grid([tg.from_numpy(v) for v in x], nrow=nrow, padding=padding, normalize=True).numpy()
        lo, hi = x.min(), x.max()
        np.testing.assert_allclose(g, _grid_numpy((x - lo) / (hi - lo), nrow, padding, np.float32(0)), rtol=1e-6)
        g = make_grid(tg.from_numpy(x), nrow=nrow, padding=padding, normalize=True, scale_each=True,
                      value_range=(0.2, 0.6)).numpy()
        np.testing.assert_allclose(g, _grid_numpy((np.clip(x, 0.2, 0.6) - 0.2) / 0.4, nrow, padding, np.float32(0)),
                                   rtol=1e-5, atol=1e-6)


def test_save_image_round_trip(tmp_path):
    x = np.random.default_rng(1).random((6, 3, 5, 4)).astype(np.float32) * 1.2 - 0.1
    path = tmp_path / "grid.png"
    save_image(tg.from_numpy(x), str(path), nrow=3, padding=1)
    back = np.asarray(Image.open(path))
    want = np.clip(_grid_numpy(x, 3, 1, np.float32(0)) * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(back, want)
    with pytest.raises(TypeError, match="tensor or list of tensors"):
        make_grid(x)
