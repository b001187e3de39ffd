"""The files of the projector plugin that SummaryWriter.add_embedding writes beside the event files: the points
(tensors.tsv), their labels (metadata.tsv), a sprite of their images (sprite.png) and projector_config.pbtxt, through
tensorboard's gfile so that remote log dirs work as in torch."""
import io
import math

import numpy as np
from PIL import Image
from tensorboard.compat import tf
from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo

from ._convert import make_grid


def gfile_join(a, b):
    # tensorboard's TensorFlow stub has no gfile.join (real TensorFlow has): the filesystem's own join is the same
    if hasattr(tf.io.gfile, "join"):
        return tf.io.gfile.join(a, b)
    return tf.io.gfile.get_filesystem(a).join(a, b)


def _write(path, data):
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(data)


def make_tsv(metadata, save_path, metadata_header=None):
    """One label per line, or with ``metadata_header`` a header row and tab-separated columns."""
    if not metadata_header:
        lines = [str(x) for x in metadata]
    else:
        if len(metadata_header) != len(metadata[0]):
            raise ValueError(f"add_embedding: metadata_header has {len(metadata_header)} columns but each metadata "
                             f"row has {len(metadata[0])}")
        lines = ["\t".join(str(e) for e in row) for row in [metadata_header] + list(metadata)]
    _write(gfile_join(save_path, "metadata.tsv"), tf.compat.as_bytes("\n".join(lines) + "\n"))


def make_sprite(label_img, save_path):
    """The N x C x H x W label images (values in [0, 1]) tiled into a square PNG of ceil(sqrt(N)) per row."""
    nrow = math.ceil(label_img.shape[0] ** 0.5)
    grid = make_grid(label_img, ncols=nrow).transpose(1, 2, 0)
    # the projector cuts the sprite into a square grid: pad the bottom up to a square
    square = np.zeros((grid.shape[1], grid.shape[1], 3))
    square[:grid.shape[0]] = grid
    buf = io.BytesIO()
    Image.fromarray(np.uint8((square * 255).clip(0, 255))).save(buf, format="PNG")
    _write(gfile_join(save_path, "sprite.png"), buf.getvalue())


def make_mat(matlist, save_path):
    """The points, one row per line, tab-separated."""
    rows = ("\t".join(str(v.item()) for v in row) + "\n" for row in matlist)
    _write(gfile_join(save_path, "tensors.tsv"), tf.compat.as_bytes("".join(rows)))


def get_embedding_info(metadata, label_img, subdir, global_step, tag):
    """The projector config entry pointing at the files written under ``subdir``."""
    info = EmbeddingInfo()
    info.tensor_name = f"{tag}:{str(global_step).zfill(5)}"
    info.tensor_path = gfile_join(subdir, "tensors.tsv")
    if metadata is not None:
        info.metadata_path = gfile_join(subdir, "metadata.tsv")
    if label_img is not None:
        info.sprite.image_path = gfile_join(subdir, "sprite.png")
        info.sprite.single_image_dim.extend([label_img.shape[3], label_img.shape[2]])
    return info


def write_pbtxt(save_path, contents):
    _write(gfile_join(save_path, "projector_config.pbtxt"), tf.compat.as_bytes(contents))
