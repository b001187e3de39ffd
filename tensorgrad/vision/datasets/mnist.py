"""MNIST, FashionMNIST and KMNIST, read from the IDX files in root/<ClassName>/raw as torchvision lays them out
(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-*); download=True fetches the .gz files from the same
mirrors with the same md5s and unpacks them there. Items are (PIL image in mode L, int label) before transforms."""
import gzip
import os
from urllib.error import URLError

import numpy as np

import tensorgrad as tg

from ..transforms.functional import image_from_array
from .utils import check_integrity, download_and_extract_archive
from .vision import VisionDataset

# IDX type codes (the third byte of the magic number) -> big-endian NumPy dtypes
_IDX_TYPES = {8: np.dtype(">u1"), 9: np.dtype(">i1"), 11: np.dtype(">i2"), 12: np.dtype(">i4"), 13: np.dtype(">f4"),
              14: np.dtype(">f8")}


def read_idx(path):
    """The array in an IDX file (Yann LeCun's MNIST format: magic 0 0 type ndim, ndim big-endian int32 sizes,
    then the data big-endian). A path ending in .gz is decompressed."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or not 1 <= data[3] <= 3:
        raise ValueError(f"read_idx: {path} is not an IDX file (magic bytes {data[:4].hex()})")
    dtype, nd = _IDX_TYPES[data[2]], data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, ">i4", count=nd, offset=4))
    body = np.frombuffer(data, dtype, offset=4 * (nd + 1))
    if body.size < int(np.prod(shape)):
        raise ValueError(f"read_idx: {path} holds {body.size} values, its header says shape {shape}")
    return body[:int(np.prod(shape))].reshape(shape).astype(dtype.newbyteorder("="))


def _read_checked(path, ndim):
    arr = read_idx(path)
    if arr.dtype != np.uint8:
        raise TypeError(f"{path}: expected uint8 data, got {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{path}: expected {ndim} dimension(s), got shape {arr.shape}")
    return arr


def read_image_file(path):
    return tg.from_numpy(_read_checked(path, 3))


def read_label_file(path):
    return tg.from_numpy(_read_checked(path, 1).astype(np.int64))


class MNIST(VisionDataset):
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    training_file = "training.pt"
    test_file = "test.pt"
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
               "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = train
        if download:
            self.download()
        if not self._check_exists():
            legacy = os.path.join(self.processed_folder, self.training_file if train else self.test_file)
            if os.path.isfile(legacy):
                raise RuntimeError(f"{type(self).__name__}: only the legacy {legacy} (a torch pickle, which tensorgrad "
                                   f"does not load) was found; put the IDX files in {self.raw_folder}")
            raise RuntimeError(f"Dataset not found in {self.raw_folder}. You can use download=True to download it")
        self.data, self.targets = self._load_data()

    def _file(self, stem):
        """raw/stem, or raw/stem.gz when only the downloaded archive is there."""
        path = os.path.join(self.raw_folder, stem)
        return path if os.path.isfile(path) or not os.path.isfile(path + ".gz") else path + ".gz"

    def _load_data(self):
        split = "train" if self.train else "t10k"
        return (read_image_file(self._file(f"{split}-images-idx3-ubyte")),
                read_label_file(self._file(f"{split}-labels-idx1-ubyte")))

    def __getitem__(self, index):
        img = image_from_array(self.data[index].numpy(), "L")
        target = int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __len__(self):
        return len(self.data)

    @property
    def raw_folder(self):
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def processed_folder(self):
        return os.path.join(self.root, type(self).__name__, "processed")

    @property
    def class_to_idx(self):
        return {c: i for i, c in enumerate(self.classes)}

    @property
    def train_labels(self):
        return self.targets

    @property
    def test_labels(self):
        return self.targets

    @property
    def train_data(self):
        return self.data

    @property
    def test_data(self):
        return self.data

    def _check_exists(self):
        return all(check_integrity(self._file(os.path.splitext(name)[0])) for name, _ in self.resources)

    def download(self):
        """Fetch each missing file from the first mirror that answers; each failure is reported per mirror."""
        if self._check_exists():
            return
        os.makedirs(self.raw_folder, exist_ok=True)
        for filename, md5 in self.resources:
            errors = []
            for mirror in self.mirrors:
                try:
                    download_and_extract_archive(f"{mirror}{filename}", download_root=self.raw_folder,
                                                 filename=filename, md5=md5)
                    break
                except (RuntimeError, URLError, OSError) as e:
                    errors.append(f"Tried {mirror}, got:\n{e}")
            else:
                raise RuntimeError(f"Error downloading {filename}:\n" + "\n".join(errors))

    def extra_repr(self):
        return f"Split: {'Train' if self.train is True else 'Test'}"


class FashionMNIST(MNIST):
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
                 ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
                 ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
                 ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134")]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
