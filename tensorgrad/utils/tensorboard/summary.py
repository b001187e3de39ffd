"""torch.utils.tensorboard.summary for tensorgrad: builders of the TensorBoard ``Summary`` protocol buffers that
SummaryWriter writes (scalar, histogram, image, text, hparams, custom scalars, audio, video, PR curves, tensors, meshes),
from tensorgrad Tensors or NumPy arrays, with torch's names, arguments and output (the same protos, so TensorBoard
shows the same thing). The protos are tensorboard's own."""
import io
import json
import logging
import struct
import wave

import numpy as np
from google.protobuf import struct_pb2
from PIL import Image, ImageDraw, ImageFont
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
from tensorboard.compat.proto.tensor_pb2 import TensorProto
from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName, Status
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo, SessionStartInfo
from tensorboard.plugins.mesh import metadata as mesh_metadata
from tensorboard.plugins.mesh.plugin_data_pb2 import MeshPluginData
from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData
from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

from ...tensor import Tensor
from ._convert import convert_to_HWC, make_np, prepare_video

__all__ = ["half_to_int", "int_to_half", "hparams", "scalar", "histogram_raw", "histogram", "make_histogram", "image",
           "image_boxes", "draw_boxes", "make_image", "video", "make_video", "audio", "custom_scalars", "text",
           "tensor_proto", "pr_curve_raw", "pr_curve", "compute_curve", "mesh"]

logger = logging.getLogger(__name__)


def half_to_int(f):
    """The bits of ``f`` as a float32, read as an int32 (how torch fills a TensorProto's half_val)."""
    return struct.unpack("i", struct.pack("f", f))[0]


def int_to_half(i):
    """The inverse of half_to_int."""
    return struct.unpack("f", struct.pack("i", i))[0]


def _plugin_metadata(name, content=b""):
    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name=name, content=content))


def _shape_proto(shape):
    return TensorShapeProto(dim=[TensorShapeProto.Dim(size=int(d)) for d in shape])


# ------------------------------------------------------------------------------------------------- scalars, tensors
def scalar(name, tensor, collections=None, new_style=False, double_precision=False):
    """One scalar: the old ``simple_value`` (a float32 in the proto), or with ``new_style`` a tensor proto of the
    scalars plugin (float, or double with ``double_precision``)."""
    value = make_np(tensor).squeeze()
    if value.ndim != 0:
        raise ValueError(f"scalar {name!r}: the value must hold one element, got {value.size} elements in "
                         f"{value.ndim} dimensions")
    value = float(value)
    if not new_style:
        return Summary(value=[Summary.Value(tag=name, simple_value=value)])
    proto = (TensorProto(double_val=[value], dtype="DT_DOUBLE") if double_precision
             else TensorProto(float_val=[value], dtype="DT_FLOAT"))
    return Summary(value=[Summary.Value(tag=name, tensor=proto, metadata=_plugin_metadata("scalars"))])


def _half_bits(arr):
    return [half_to_int(v) for v in arr.reshape(-1).astype(np.float32).tolist()]


def _plain(arr):
    return arr.reshape(-1).tolist()


# NumPy dtype -> the TensorProto dtype and value field torch writes for the same torch dtype
_TENSOR_TYPES = {
    np.dtype(np.float16): ("DT_HALF", "half_val", _half_bits),
    np.dtype(np.float32): ("DT_FLOAT", "float_val", _plain),
    np.dtype(np.float64): ("DT_DOUBLE", "double_val", _plain),
    np.dtype(np.int8): ("DT_INT8", "int_val", _plain),
    np.dtype(np.uint8): ("DT_UINT8", "uint32_val", _plain),
    np.dtype(np.int16): ("DT_INT16", "int_val", _plain),
    np.dtype(np.int32): ("DT_INT32", "int_val", _plain),
    np.dtype(np.int64): ("DT_INT64", "int64_val", _plain),
    np.dtype(np.bool_): ("DT_BOOL", "bool_val", _plain),
}


def tensor_proto(tag, tensor):
    """The whole tensor as a TensorProto of the ``tensor`` plugin."""
    if isinstance(tensor, Tensor) and str(tensor.dtype) == "bfloat16":
        arr, (dtype, field, convert) = make_np(tensor), ("DT_BFLOAT16", "half_val", _half_bits)
    else:
        arr = make_np(tensor)
        if arr.dtype not in _TENSOR_TYPES:
            raise ValueError(f"{tag} has unsupported tensor dtype {arr.dtype}")
        dtype, field, convert = _TENSOR_TYPES[arr.dtype]
    if arr.nbytes >= 1 << 31:
        raise ValueError("tensor is bigger than protocol buffer's hard limit of 2GB in size")
    proto = TensorProto(dtype=dtype, tensor_shape=_shape_proto(arr.shape), **{field: convert(arr)})
    return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata("tensor"), tensor=proto)])


# ------------------------------------------------------------------------------------------------------ histograms
def histogram_raw(name, min, max, num, sum, sum_squares, bucket_limits, bucket_counts):  # noqa: A002  (torch's names)
    """A histogram from its statistics and buckets, as computed elsewhere."""
    hist = HistogramProto(min=min, max=max, num=num, sum=sum, sum_squares=sum_squares, bucket_limit=bucket_limits,
                          bucket=bucket_counts)
    return Summary(value=[Summary.Value(tag=name, histo=hist)])


def histogram(name, values, bins, max_bins=None):
    """A histogram of every element of ``values`` (any shape), ``bins`` as np.histogram takes them."""
    return Summary(value=[Summary.Value(tag=name, histo=make_histogram(make_np(values).astype(float), bins,
                                                                        max_bins))])


def make_histogram(values, bins, max_bins=None):
    """The HistogramProto of ``values``: np.histogram's counts, at most ``max_bins`` of them (neighbours summed),
    trimmed to the span of non-empty buckets. TensorBoard reads only right edges, so one empty bucket is kept on the
    left to carry the leftmost edge."""
    if values.size == 0:
        raise ValueError("The input has no element.")
    values = values.reshape(-1)
    counts, limits = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        group = len(counts) // max_bins
        if len(counts) % group:
            counts = np.pad(counts, (0, group - len(counts) % group))
        counts = counts.reshape(-1, group).sum(axis=-1)
        limits = np.concatenate([limits[:-1:group], limits[-1:]])
    nonempty = np.flatnonzero(counts)
    # with every bucket empty (values outside explicit bins) the slices below come out as torch's: empty (refused)
    # unless there is a single bucket
    start, end = (int(nonempty[0]), int(nonempty[-1]) + 1) if nonempty.size else (len(counts), 1)
    counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
    limits = limits[start:end + 1]
    if counts.size == 0 or limits.size == 0:
        raise ValueError("The histogram is empty, please file a bug report.")
    return HistogramProto(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                          sum_squares=values.dot(values), bucket_limit=limits.tolist(), bucket=counts.tolist())


# ---------------------------------------------------------------------------------------------------------- images
def _scale_factor(arr):
    # uint8 is already 0..255; anything else is taken as 0..1
    return 1 if arr.dtype == np.uint8 else 255


def _to_uint8(arr):
    return (arr.astype(np.float32) * _scale_factor(arr)).clip(0, 255).astype(np.uint8)


def image(tag, tensor, rescale=1, dataformats="NCHW"):
    """One PNG image of ``tensor`` laid out as ``dataformats`` (a batch is tiled into one grid); floats are taken in
    [0, 1], uint8 in [0, 255], out-of-range values clipped."""
    arr = convert_to_HWC(make_np(tensor), dataformats)
    return Summary(value=[Summary.Value(tag=tag, image=make_image(_to_uint8(arr), rescale=rescale))])


def image_boxes(tag, tensor_image, tensor_boxes, rescale=1, dataformats="CHW", labels=None):
    """An image with boxes (N x 4, xmin ymin xmax ymax, in pixels) drawn on it in red, each with its label."""
    arr = convert_to_HWC(make_np(tensor_image), dataformats)
    return Summary(value=[Summary.Value(tag=tag, image=make_image(_to_uint8(arr), rescale=rescale,
                                                                   rois=make_np(tensor_boxes), labels=labels))])


def _draw_box(image, xmin, ymin, xmax, ymax, label, color="Red", thickness=2):
    draw = ImageDraw.Draw(image)
    draw.line([(xmin, ymin), (xmin, ymax), (xmax, ymax), (xmax, ymin), (xmin, ymin)], width=thickness, fill=color)
    if label:
        font = ImageFont.load_default()
        left, top, right, bottom = font.getbbox(label)
        text_w, text_h = right - left, bottom - top
        margin = np.ceil(0.05 * text_h)
        draw.rectangle([(xmin, ymax - text_h - 2 * margin), (xmin + text_w, ymax)], fill=color)
        draw.text((xmin + margin, ymax - text_h - margin), label, fill="black", font=font)
    return image


def draw_boxes(disp_image, boxes, labels=None):
    """``boxes`` (N x 4, xyxy) drawn onto the PIL image ``disp_image``."""
    for i in range(boxes.shape[0]):
        disp_image = _draw_box(disp_image, *boxes[i, :4], None if labels is None else labels[i])
    return disp_image


def make_image(tensor, rescale=1, rois=None, labels=None):
    """The Summary.Image of an H x W x C uint8 array: PNG-encoded by PIL, resized by ``rescale``."""
    height, width, channel = tensor.shape
    picture = Image.fromarray(tensor)
    if rois is not None:
        picture = draw_boxes(picture, rois, labels=labels)
    if rescale != 1:
        picture = picture.resize((int(width * rescale), int(height * rescale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return Summary.Image(height=height, width=width, colorspace=channel, encoded_image_string=buf.getvalue())


def video(tag, tensor, fps=4):
    """A B x T x C x H x W batch of clips as one animated GIF (clips tiled per frame)."""
    frames = prepare_video(make_np(tensor))
    frames = (frames.astype(np.float32) * _scale_factor(frames)).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=make_video(frames, fps))])


def make_video(tensor, fps):
    """The Summary.Image of T x H x W x C uint8 frames as an animated GIF. torch encodes with moviepy; PIL does it
    here (moviepy is not a dependency): each frame gets its own 256-colour palette, so a frame of at most 256 colours
    decodes exactly."""
    t, h, w, c = tensor.shape
    if c not in (1, 3):
        raise ValueError(f"video frames must have 1 or 3 channels, got {c}")
    frames = [Image.fromarray(f[:, :, 0] if c == 1 else f).convert("RGB").quantize(256, dither=Image.Dither.NONE)
              for f in tensor]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=1000 / fps, loop=0)
    return Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=buf.getvalue())


def audio(tag, tensor, sample_rate=44100):
    """A mono clip (values in [-1, 1], clipped with a warning) as 16-bit WAV."""
    array = make_np(tensor).squeeze()
    if abs(array).max() > 1:
        print("warning: audio amplitude out of range, auto clipped.")
        array = array.clip(-1, 1)
    if array.ndim != 1:
        raise ValueError(f"audio {tag!r}: the clip must be 1-dimensional after squeezing, got shape {array.shape}")
    pcm = (array * np.iinfo(np.int16).max).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
    clip = Summary.Audio(sample_rate=sample_rate, num_channels=1, length_frames=pcm.shape[-1],
                         encoded_audio_string=buf.getvalue(), content_type="audio/wav")
    return Summary(value=[Summary.Value(tag=tag, audio=clip)])


# ------------------------------------------------------------------------------------------------ text, layouts
def text(tag, text):
    """A markdown string for the text plugin, under ``<tag>/text_summary``."""
    proto = TensorProto(dtype="DT_STRING", string_val=[text.encode("utf_8")], tensor_shape=_shape_proto([1]))
    smd = _plugin_metadata("text", TextPluginData(version=0).SerializeToString())
    return Summary(value=[Summary.Value(tag=tag + "/text_summary", metadata=smd, tensor=proto)])


def custom_scalars(layout):
    """The custom scalars plugin's layout: {category: {chart title: ["Multiline", [tags]] or ["Margin", [value,
    lower, upper]]}}."""
    categories = []
    for category, charts in layout.items():
        built = []
        for title, (kind, tags) in charts.items():
            if kind == "Margin":
                if len(tags) != 3:
                    raise ValueError(f"custom_scalars: the Margin chart {title!r} needs 3 tags (value, lower, "
                                     f"upper), got {len(tags)}")
                series = layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1], upper=tags[2])
                built.append(layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[series])))
            else:
                built.append(layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=tags)))
        categories.append(layout_pb2.Category(title=category, chart=built))
    proto = TensorProto(dtype="DT_STRING", string_val=[layout_pb2.Layout(category=categories).SerializeToString()],
                        tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag="custom_scalars__config__", tensor=proto,
                                        metadata=_plugin_metadata("custom_scalars"))])


# ---------------------------------------------------------------------------------------------------------- hparams
def _hparams_summary(tag, **content):
    data = HParamsPluginData(version=hparams_metadata.PLUGIN_DATA_VERSION, **content)
    smd = _plugin_metadata(hparams_metadata.PLUGIN_NAME, data.SerializeToString())
    return Summary(value=[Summary.Value(tag=tag, metadata=smd)])


def hparams(hparam_dict=None, metric_dict=None, hparam_domain_discrete=None):
    """The three summaries of the hparams plugin (experiment, session start with the values, session end), as
    torch writes them. Values may be int, float (bool counts as a number, as in torch), str, or a one-element
    tensor; None values are skipped."""
    if not isinstance(hparam_dict, dict):
        logger.warning("parameter: hparam_dict should be a dictionary, nothing logged.")
        raise TypeError("parameter: hparam_dict should be a dictionary, nothing logged.")
    if not isinstance(metric_dict, dict):
        logger.warning("parameter: metric_dict should be a dictionary, nothing logged.")
        raise TypeError("parameter: metric_dict should be a dictionary, nothing logged.")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError("parameter: hparam_domain_discrete should be a dictionary, nothing logged.")
    for k, v in domains.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(f"parameter: hparam_domain_discrete[{k}] should be a list of same type as "
                            f"hparam_dict[{k}].")
    infos, start = [], SessionStartInfo()
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if isinstance(v, Tensor):
            v, field, dtype, discrete = float(make_np(v).reshape(-1)[0]), "number_value", "DATA_TYPE_FLOAT64", False
        elif isinstance(v, (int, float)):
            field, dtype, discrete = "number_value", "DATA_TYPE_FLOAT64", True
        elif isinstance(v, str):
            field, dtype, discrete = "string_value", "DATA_TYPE_STRING", True
        else:
            raise ValueError(f"hparams: the value of {k!r} should be one of int, float, str, bool, or tensor, "
                             f"got {type(v).__name__}")
        setattr(start.hparams[k], field, v)
        domain = None
        if discrete and k in domains:
            domain = struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d}) for d in domains[k]])
        infos.append(HParamInfo(name=k, type=DataType.Value(dtype), domain_discrete=domain))
    experiment = Experiment(hparam_infos=infos, metric_infos=[MetricInfo(name=MetricName(tag=k)) for k in metric_dict])
    return (_hparams_summary(hparams_metadata.EXPERIMENT_TAG, experiment=experiment),
            _hparams_summary(hparams_metadata.SESSION_START_INFO_TAG, session_start_info=start),
            _hparams_summary(hparams_metadata.SESSION_END_INFO_TAG,
                             session_end_info=SessionEndInfo(status=Status.Value("STATUS_SUCCESS"))))


# -------------------------------------------------------------------------------------------------------- PR curves
def _pr_summary(tag, data, num_thresholds):
    content = PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString()
    proto = TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(), tensor_shape=_shape_proto(data.shape))
    return Summary(value=[Summary.Value(tag=tag, metadata=_plugin_metadata("pr_curves", content), tensor=proto)])


def pr_curve_raw(tag, tp, fp, tn, fn, precision, recall, num_thresholds=127, weights=None):
    """A precision-recall curve from counts computed elsewhere (at most 127 thresholds, as torch)."""
    columns = [make_np(a) if isinstance(a, Tensor) else np.asarray(a) for a in (tp, fp, tn, fn, precision, recall)]
    return _pr_summary(tag, np.stack(columns),
                       min(num_thresholds, 127))


def pr_curve(tag, labels, predictions, num_thresholds=127, weights=None):
    """A precision-recall curve of ``predictions`` (probabilities) against 0/1 ``labels``."""
    num_thresholds = min(num_thresholds, 127)
    return _pr_summary(tag, compute_curve(labels, predictions, num_thresholds=num_thresholds, weights=weights),
                       num_thresholds)


def compute_curve(labels, predictions, num_thresholds=None, weights=None):
    """tp, fp, tn, fn, precision, recall at ``num_thresholds`` evenly spaced thresholds (tensorboard's pr_curve
    summary's computation)."""
    weights = 1.0 if weights is None else weights
    buckets = np.int32(np.floor(predictions * (num_thresholds - 1)))
    positive = labels.astype(np.float64)
    span = (0, num_thresholds - 1)
    tp_b, _ = np.histogram(buckets, bins=num_thresholds, range=span, weights=positive * weights)
    fp_b, _ = np.histogram(buckets, bins=num_thresholds, range=span, weights=(1.0 - positive) * weights)
    tp, fp = np.cumsum(tp_b[::-1])[::-1], np.cumsum(fp_b[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


# ----------------------------------------------------------------------------------------------------------- meshes
def _mesh_part(name, display_name, description, tensor, content_type, components, json_config):
    arr = np.asarray(make_np(tensor))
    if arr.ndim != 3:
        raise ValueError(f"mesh {name!r}: vertices, colors and faces must be B x N x 3, got shape {arr.shape}")
    smd = mesh_metadata.create_summary_metadata(name, display_name, content_type, components, arr.shape,
                                                description, json_config=json_config)
    proto = TensorProto(dtype="DT_FLOAT", float_val=arr.reshape(-1).tolist(), tensor_shape=_shape_proto(arr.shape))
    return Summary.Value(tag=mesh_metadata.get_instance_name(name, content_type), tensor=proto, metadata=smd)


def mesh(tag, vertices, colors, faces, config_dict, display_name=None, description=None):
    """A mesh or point cloud for the mesh plugin: vertices (B x N x 3), optional colors and faces."""
    json_config = "{}" if config_dict is None else json.dumps(config_dict, sort_keys=True)
    parts = [(t, kind) for t, kind in ((vertices, MeshPluginData.VERTEX), (faces, MeshPluginData.FACE),
                                       (colors, MeshPluginData.COLOR)) if t is not None]
    components = mesh_metadata.get_components_bitmask([kind for _, kind in parts])
    return Summary(value=[_mesh_part(tag, display_name, description, t, kind, components, json_config)
                          for t, kind in parts])
