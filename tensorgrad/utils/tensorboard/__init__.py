"""torch.utils.tensorboard for tensorgrad: SummaryWriter writes real TensorBoard event files (scalars, histograms,
images, figures, text, hyperparameters, embeddings, PR curves, audio, video, meshes, custom scalar layouts) from
tensorgrad Tensors and NumPy arrays, through the ``tensorboard`` package's protos and event file writer, as torch's
does. ``tensorboard`` is an optional dependency (``pip install tensorgrad[tensorboard]``); as in torch, importing this
package without it fails with an ImportError that says so. add_graph is refused: torch draws the graph from a
TorchScript trace, which tensorgrad has not.
"""
try:
    import tensorboard
except ImportError as e:
    raise ModuleNotFoundError("TensorBoard logging requires TensorBoard version 1.15 or above, and the tensorboard "
                              "package is not installed: pip install tensorboard", name="tensorboard") from e


def _version_tuple(text):
    parts = []
    for piece in text.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())  # "2rc1" -> 2: only the release numbers count
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


if _version_tuple(getattr(tensorboard, "__version__", "0")) < (1, 15):
    raise ImportError("TensorBoard logging requires TensorBoard version 1.15 or above")

from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: E402  (after the check, as in torch)

from .writer import FileWriter, SummaryWriter  # noqa: E402

__all__ = ["FileWriter", "RecordWriter", "SummaryWriter"]
