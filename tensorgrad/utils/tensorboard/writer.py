"""torch.utils.tensorboard.writer for tensorgrad: SummaryWriter writes TensorBoard event files (through tensorboard's
own EventFileWriter, asynchronously, flushed every ``flush_secs`` or every ``max_queue`` events) from tensorgrad
Tensors and NumPy arrays, with torch's methods, arguments, file layout (add_scalars and add_hparams write into
subfolders, add_embedding writes the projector's files) and protos."""
import os
import socket
import time
from datetime import datetime

from google.protobuf import text_format
from tensorboard.compat import tf
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from ._convert import figure_to_image, make_np
from ._embedding import get_embedding_info, make_mat, make_sprite, make_tsv, write_pbtxt
from .summary import (audio, custom_scalars, histogram, histogram_raw, hparams, image, image_boxes, mesh, pr_curve,
                      pr_curve_raw, scalar, tensor_proto, text, video)

__all__ = ["FileWriter", "SummaryWriter"]


class FileWriter:
    """Writes Event protos into one event file in ``log_dir`` (SummaryWriter keeps one per folder it writes)."""

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix=""):
        self._args = (str(log_dir), max_queue, flush_secs, filename_suffix)  # a pathlib.Path works too
        self.event_writer = EventFileWriter(*self._args)

    def get_logdir(self):
        return self.event_writer.get_logdir()

    def add_event(self, event, step=None, walltime=None):
        event.wall_time = time.time() if walltime is None else walltime
        if step is not None:
            event.step = int(step)  # a NumPy or tensor step: protobuf takes only Python ints
        self.event_writer.add_event(event)

    def add_summary(self, summary, global_step=None, walltime=None):
        self.add_event(event_pb2.Event(summary=summary), global_step, walltime)

    def add_graph(self, graph_profile, walltime=None):
        """A (GraphDef, RunMetadata) pair, as torch's graph tracer hands it."""
        graph, stepstats = graph_profile
        self.add_event(event_pb2.Event(graph_def=graph.SerializeToString()), None, walltime)
        trm = event_pb2.TaggedRunMetadata(tag="step1", run_metadata=stepstats.SerializeToString())
        self.add_event(event_pb2.Event(tagged_run_metadata=trm), None, walltime)

    def add_onnx_graph(self, graph, walltime=None):
        self.add_event(event_pb2.Event(graph_def=graph.SerializeToString()), None, walltime)

    def flush(self):
        self.event_writer.flush()

    def close(self):
        self.event_writer.close()

    def reopen(self):
        """Writing again after close(): tensorboard's writer cannot reopen its file, so a new event file starts."""
        self.event_writer = EventFileWriter(*self._args)


class SummaryWriter:
    """torch.utils.tensorboard.SummaryWriter: logs scalars, histograms, images, text, hyperparameters, embeddings,
    ... to ``log_dir`` (default ``runs/<Mon DD_HH-MM-SS>_<hostname><comment>``) for TensorBoard to show.
    ``purge_step`` tells TensorBoard to drop events of that step and later from an earlier, crashed run."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", stamp + "_" + socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        # cleared by close() and made again by the next add_*
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        # add_histogram's bins="tensorflow": TensorFlow's default edges, a factor 1.1 apart from 1e-12 to 1e20, both signs
        edges, v = [], 1e-12
        while v < 1e20:
            edges.append(v)
            v *= 1.1
        self.default_bins = [-e for e in reversed(edges)] + [0] + edges

    def _get_file_writer(self):
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                self.file_writer.add_event(Event(step=self.purge_step, file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=self.purge_step,
                                                 session_log=SessionLog(status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self):
        return self.log_dir

    # ------------------------------------------------------------------------------------------------ scalars
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        """One value of the series ``tag`` (a number, or a one-element tensor or array)."""
        self._get_file_writer().add_summary(scalar(tag, scalar_value, new_style=new_style,
                                                   double_precision=double_precision), global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several series on one chart: each goes to its own subfolder ``<log_dir>/<main_tag>_<tag>`` (slashes in
        main_tag made underscores), written under the tag ``main_tag``."""
        walltime = time.time() if walltime is None else walltime
        logdir = self._get_file_writer().get_logdir()
        for tag, value in tag_scalar_dict.items():
            folder = logdir + "/" + main_tag.replace("/", "_") + "_" + tag
            if folder not in self.all_writers:
                self.all_writers[folder] = FileWriter(folder, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers[folder].add_summary(scalar(main_tag, value), global_step, walltime)

    def add_tensor(self, tag, tensor, global_step=None, walltime=None):
        """The whole tensor, for the tensor plugin."""
        self._get_file_writer().add_summary(tensor_proto(tag, tensor), global_step, walltime)

    # --------------------------------------------------------------------------------------------- histograms
    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        """A histogram of ``values``; ``bins`` is "tensorflow" (TensorFlow's log-spaced edges) or anything
        np.histogram takes ("auto", "fd", a count, edges)."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._get_file_writer().add_summary(histogram(tag, values, bins, max_bins=max_bins), global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts,  # noqa: A002
                          global_step=None, walltime=None):
        """A histogram computed elsewhere: its statistics and each bucket's right edge and count."""
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError(f"add_histogram_raw: bucket_limits has {len(bucket_limits)} entries but bucket_counts "
                             f"has {len(bucket_counts)}; they must match")
        self._get_file_writer().add_summary(
            histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts), global_step, walltime)

    # ------------------------------------------------------------------------------------------------- images
    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image: CHW (default), HWC or HW; floats in [0, 1] or uint8 in [0, 255]."""
        self._get_file_writer().add_summary(image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images (NCHW by default, or NHWC) tiled into one grid image, 8 per row."""
        self._get_file_writer().add_summary(image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_image_with_boxes(self, tag, img_tensor, box_tensor, global_step=None, walltime=None, rescale=1,
                             dataformats="CHW", labels=None):
        """An image with boxes (N x 4, xmin ymin xmax ymax in pixels) drawn on it; ``labels`` (one per box)
        are written in them, and dropped, as torch drops them, when their count differs from the boxes'."""
        if labels is not None:
            labels = [labels] if isinstance(labels, str) else labels
            if len(labels) != box_tensor.shape[0]:
                labels = None
        self._get_file_writer().add_summary(
            image_boxes(tag, img_tensor, box_tensor, rescale=rescale, dataformats=dataformats, labels=labels),
            global_step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure (or a list of them, tiled) rendered to an image; closed unless ``close=False``."""
        self.add_image(tag, figure_to_image(figure, close), global_step, walltime,
                       dataformats="NCHW" if isinstance(figure, list) else "CHW")

    def add_video(self, tag, vid_tensor, global_step=None, fps=4, walltime=None):
        """B x T x C x H x W clips as an animated GIF (PIL encodes it; torch needs moviepy)."""
        self._get_file_writer().add_summary(video(tag, vid_tensor, fps), global_step, walltime)

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        """A mono clip with values in [-1, 1]."""
        self._get_file_writer().add_summary(audio(tag, snd_tensor, sample_rate=sample_rate), global_step, walltime)

    # ------------------------------------------------------------------------------------- text, hparams, graphs
    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """A markdown string, shown by the text plugin under ``<tag>/text_summary``."""
        self._get_file_writer().add_summary(text(tag, text_string), global_step, walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None, global_step=None):
        """One run of the hparams plugin: the hyperparameters and the metrics (also written as scalars), in a
        subfolder ``run_name`` (default: the current time) of this writer's log dir, as torch does."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        summaries = hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name or str(time.time()))
        with SummaryWriter(log_dir=logdir) as w:
            for s in summaries:
                w.file_writer.add_summary(s, global_step)
            for k, v in metric_dict.items():
                w.add_scalar(k, v, global_step)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        raise NotImplementedError(
            "SummaryWriter.add_graph: torch traces the model with TorchScript (torch.jit.trace) to draw its graph; "
            "tensorgrad has no TorchScript tracer, so the model graph cannot be logged (remove the add_graph call; "
            "every other add_* works)")

    def add_onnx_graph(self, prototxt):
        raise NotImplementedError("SummaryWriter.add_onnx_graph: reading ONNX models needs torch's onnx support, "
                                  "which tensorgrad does not provide")

    # --------------------------------------------------------------------------------------------- embeddings
    @staticmethod
    def _encode(rawstr):
        # a tag becomes one folder name: % and both slashes percent-encoded
        return rawstr.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Points (N x D) for the projector plugin, with optional labels (``metadata``: N values, or N rows under
        ``metadata_header``) and images (``label_img``: N x C x H x W), written under
        ``<log_dir>/<step, 5 digits>/<tag>``."""
        mat = make_np(mat)
        global_step = 0 if global_step is None else global_step
        subdir = f"{str(global_step).zfill(5)}/{self._encode(tag)}"
        save_path = os.path.join(self._get_file_writer().get_logdir(), subdir)
        if tf.io.gfile.exists(save_path):
            if not tf.io.gfile.isdir(save_path):
                raise NotADirectoryError(f"Path: `{save_path}` exists, but is a file. Cannot proceed.")
            print("warning: Embedding dir exists, did you set global_step for add_embedding()?")
        else:
            tf.io.gfile.makedirs(save_path)
        if metadata is not None:
            if mat.shape[0] != len(metadata):
                raise ValueError(f"add_embedding: {len(metadata)} labels in metadata for {mat.shape[0]} points")
            make_tsv(metadata, save_path, metadata_header=metadata_header)
        if label_img is not None:
            label_img = make_np(label_img)
            if mat.shape[0] != label_img.shape[0]:
                raise ValueError(f"add_embedding: {label_img.shape[0]} label images for {mat.shape[0]} points")
            make_sprite(label_img, save_path)
        if mat.ndim != 2:
            raise ValueError(f"add_embedding: mat must be 2-d (points x dimensions), got shape {mat.shape}")
        make_mat(mat, save_path)
        # the config is rewritten whole each time (a filesystem may not append), from every embedding so far
        if not hasattr(self, "_projector_config"):
            self._projector_config = ProjectorConfig()
        self._projector_config.embeddings.extend([get_embedding_info(metadata, label_img, subdir, global_step, tag)])
        write_pbtxt(self._get_file_writer().get_logdir(), text_format.MessageToString(self._projector_config))

    # ---------------------------------------------------------------------------------------------- PR curves
    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127, weights=None,
                     walltime=None):
        """A precision-recall curve of ``predictions`` (probabilities) against 0/1 ``labels``."""
        labels, predictions = make_np(labels), make_np(predictions)
        self._get_file_writer().add_summary(pr_curve(tag, labels, predictions, num_thresholds, weights),
                                            global_step, walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts, true_negative_counts,
                         false_negative_counts, precision, recall, global_step=None, num_thresholds=127,
                         weights=None, walltime=None):
        """A precision-recall curve from counts computed elsewhere."""
        self._get_file_writer().add_summary(
            pr_curve_raw(tag, true_positive_counts, false_positive_counts, true_negative_counts,
                         false_negative_counts, precision, recall, num_thresholds, weights), global_step, walltime)

    # ---------------------------------------------------------------------------------------- custom scalars
    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        self._get_file_writer().add_summary(custom_scalars({category: {title: ["Multiline", tags]}}))

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        if len(tags) != 3:
            raise ValueError(f"add_custom_scalars_marginchart: expected 3 tags (value, lower, upper), got "
                             f"{len(tags)}.")
        self._get_file_writer().add_summary(custom_scalars({category: {title: ["Margin", tags]}}))

    def add_custom_scalars(self, layout):
        """The custom scalars plugin's layout: {category: {chart title: ["Multiline", [tags]] or
        ["Margin", [value, lower, upper]]}}."""
        self._get_file_writer().add_summary(custom_scalars(layout))

    def add_mesh(self, tag, vertices, colors=None, faces=None, config_dict=None, global_step=None, walltime=None):
        """A mesh or point cloud (B x N x 3 vertices, optional colors and faces) for the mesh plugin."""
        self._get_file_writer().add_summary(mesh(tag, vertices, colors, faces, config_dict), global_step, walltime)

    # -------------------------------------------------------------------------------------------------- files
    def flush(self):
        """Writes every pending event to disk."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self):
        """Flushes and closes every event file; a later add_* starts a new file, a second close does nothing."""
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
