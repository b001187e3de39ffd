"""Files for torchvision's datasets: md5 checks, downloads over urllib (whatever network the machine has; without
one the URL error is reported) and archive extraction, into the same file layout torchvision uses, so a folder
torchvision downloaded is read as it is."""
import bz2
import gzip
import hashlib
import lzma
import os
import tarfile
import urllib.request
import zipfile

_CHUNK = 1 << 20
_DECOMPRESS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


def calculate_md5(fpath, chunk_size=_CHUNK):
    md5 = hashlib.md5(usedforsecurity=False)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            md5.update(chunk)
    return md5.hexdigest()


def check_md5(fpath, md5):
    return md5 == calculate_md5(fpath)


def check_integrity(fpath, md5=None):
    """The file exists and, when md5 is given, has that checksum."""
    if not os.path.isfile(fpath):
        return False
    return md5 is None or check_md5(fpath, md5)


def download_url(url, root, filename=None, md5=None):
    """Fetch url into root/filename (default: the url's basename) unless a file with that md5 is there already."""
    root = os.path.expanduser(root)
    fpath = os.path.join(root, filename or os.path.basename(url))
    os.makedirs(root, exist_ok=True)
    if check_integrity(fpath, md5):
        return
    part = fpath + ".partial"
    with urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "tensorgrad.vision"})) as r, \
            open(part, "wb") as out:
        for chunk in iter(lambda: r.read(_CHUNK), b""):
            out.write(chunk)
    os.replace(part, fpath)
    if not check_integrity(fpath, md5):
        raise RuntimeError(f"download_url: {fpath} downloaded from {url} does not have md5 {md5}")


def extract_archive(from_path, to_path=None, remove_finished=False):
    """Unpack a .tar(.gz/.xz/.bz2) / .tgz / .zip into to_path, or decompress a single .gz / .xz / .bz2 file next to
    it (train-images-idx3-ubyte.gz -> train-images-idx3-ubyte). Returns the folder or file written."""
    to_path = os.path.dirname(from_path) if to_path is None else to_path
    name = os.path.basename(from_path)
    if tarfile.is_tarfile(from_path):
        with tarfile.open(from_path) as tar:
            tar.extractall(to_path, filter="data")  # no absolute paths, links out, or device files
        out = to_path
    elif zipfile.is_zipfile(from_path):
        with zipfile.ZipFile(from_path) as z:
            z.extractall(to_path)
        out = to_path
    else:
        stem, ext = os.path.splitext(name)
        if ext not in _DECOMPRESS:
            raise RuntimeError(f"extract_archive: {from_path} is not a tar, zip, .gz, .xz or .bz2 file")
        out = os.path.join(to_path, stem)
        with _DECOMPRESS[ext](from_path, "rb") as src, open(out, "wb") as dst:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                dst.write(chunk)
    if remove_finished:
        os.remove(from_path)
    return out


def download_and_extract_archive(url, download_root, extract_root=None, filename=None, md5=None,
                                 remove_finished=False):
    download_root = os.path.expanduser(download_root)
    filename = filename or os.path.basename(url)
    download_url(url, download_root, filename, md5)
    extract_archive(os.path.join(download_root, filename), extract_root or download_root, remove_finished)


def verify_str_arg(value, arg=None, valid_values=None):
    if not isinstance(value, str):
        raise ValueError(f"expected type str for argument {arg}, got {type(value).__name__}")
    if valid_values is not None and value not in valid_values:
        raise ValueError(f"unknown value {value!r} for argument {arg}; valid values are {', '.join(valid_values)}")
    return value
