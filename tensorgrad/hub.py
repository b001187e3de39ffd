"""torch.hub's download half: fetch a file into the hub cache and load the checkpoint in it.

    sd = tensorgrad.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True)

detr, MAE, timm and Pytorch-UNet fetch pretrained weights this way. The cache is torch's ($TORCH_HOME/hub, TORCH_HOME
defaulting to $XDG_CACHE_HOME/torch, that to ~/.cache), so a file PyTorch fetched is found, not fetched again.
Loading goes through tensorgrad.load, which reads safetensors and tensorgrad's own files and refuses (naming the
conversion) the pickled zip of torch.save. Not provided: torch.hub.load / list / help, which import a GitHub repo's
hubconf.py and run its code.
"""
import hashlib
import os
import re
import shutil
import sys
import uuid
import warnings
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from tqdm import tqdm

from .serialization import load

__all__ = ["get_dir", "set_dir", "download_url_to_file", "load_state_dict_from_url"]

# a file name's hash part, as torch reads it: resnet18-5c106cde.pth -> the SHA-256 of the file starts with 5c106cde
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
_CHUNK = 128 * 1024
_hub_dir = None


def _get_torch_home():
    xdg = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(xdg, "torch")))


def get_dir():
    """The hub cache directory: the one set_dir gave, else $TORCH_HOME/hub."""
    if os.getenv("TORCH_HUB"):
        warnings.warn("TORCH_HUB is deprecated, please use env TORCH_HOME instead", stacklevel=2)
    return _hub_dir if _hub_dir is not None else os.path.join(_get_torch_home(), "hub")


def set_dir(d):
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    """Write what ``url`` serves to ``dst``. The bytes go to a temporary file beside dst first and replace dst only
    once complete (and, with hash_prefix, once their SHA-256 is checked to start with it), so an interrupted or
    corrupt download never leaves a half file where a checkpoint is expected."""
    dst = os.path.expanduser(os.fspath(dst))
    partial = f"{dst}.{uuid.uuid4().hex}.partial"
    sha = hashlib.sha256() if hash_prefix is not None else None
    try:
        with urlopen(Request(url, headers={"User-Agent": "torch.hub"})) as src, open(partial, "wb") as out:
            size = src.info().get("Content-Length")
            with tqdm(total=int(size) if size else None, disable=not progress, unit="B", unit_scale=True,
                      unit_divisor=1024, file=sys.stderr) as bar:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    out.write(chunk)
                    if sha is not None:
                        sha.update(chunk)
                    bar.update(len(chunk))
        if sha is not None and not sha.hexdigest().startswith(hash_prefix):
            raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{sha.hexdigest()}") for {url}')
        shutil.move(partial, dst)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                             file_name=None, weights_only=False):
    """The checkpoint at ``url``, fetched into ``model_dir`` (default get_dir()/checkpoints) unless a file of that
    name is already there, then read by tensorgrad.load. check_hash: the file name's hash part (HASH_REGEX) must
    begin the download's SHA-256."""
    if os.getenv("TORCH_MODEL_ZOO"):
        warnings.warn("TORCH_MODEL_ZOO is deprecated, please use env TORCH_HOME instead", stacklevel=2)
    model_dir = os.path.join(get_dir(), "checkpoints") if model_dir is None else os.fspath(model_dir)
    os.makedirs(model_dir, exist_ok=True)
    name = file_name if file_name is not None else os.path.basename(urlparse(url).path)
    cached = os.path.join(model_dir, name)
    if not os.path.exists(cached):
        sys.stdout.write(f'Downloading: "{url}" to {cached}\n')
        found = HASH_REGEX.search(name) if check_hash else None
        download_url_to_file(url, cached, found.group(1) if found else None, progress=progress)
    return load(cached, map_location=map_location, weights_only=weights_only)
