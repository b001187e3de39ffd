"""nn.DataParallel and nn.SyncBatchNorm, as far as one process with at most one device makes them meaningful.

DataParallel: torch's wrapper with no CUDA device (or none listed) is a pass-through: forward calls the module,
``.module`` is the module, state_dict keys are prefixed ``module.``. With one device it moves the inputs to that
device and calls the module there, after checking the module lives on it (torch's check and message). Replicating
the module over several devices in one process is refused: tensorgrad runs one device per process, and
DistributedDataParallel under mpiexec is the multi-device path (which torch recommends too).

SyncBatchNorm: BatchNorm whose training-mode statistics would be taken over the whole global batch of every rank.
Outside a process group of more than one rank (and in eval mode) it is BatchNorm, as in torch. Training with
several ranks is refused: the synchronised forward and backward need their own collectives inside autograd,
which are not written (torch itself runs it only on GPUs). convert_sync_batchnorm swaps every BatchNorm*d of a
model for one, keeping its parameters and running statistics (the same tensors).
"""
from .. import distributed as dist
from ..backend import as_device
from ..cuda import device_count
from .module import Module
from .norm import _BatchNorm

__all__ = ["DataParallel", "data_parallel", "SyncBatchNorm"]


def _to(x, device):
    if hasattr(x, "to") and hasattr(x, "array"):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        out = [_to(v, device) for v in x]
        return type(x)(*out) if hasattr(x, "_fields") else type(x)(out)
    if isinstance(x, dict):
        return type(x)((k, _to(v, device)) for k, v in x.items())
    return x


class DataParallel(Module):
    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        self.module = module
        n = device_count()
        if n == 0:  # torch's early return: only module and device_ids are set
            self.device_ids = []
            return
        self.dim = dim
        if device_ids is None:
            device_ids = list(range(n))
        device_ids = [as_device(d).index if not isinstance(d, int) else d for d in device_ids]
        device_ids = [0 if d is None else d for d in device_ids]
        if len(device_ids) > 1:
            raise NotImplementedError(f"DataParallel over {len(device_ids)} devices {device_ids}: tensorgrad runs one "
                                      "device per process and does not replicate a module across devices in one "
                                      "process; use DistributedDataParallel under mpiexec -n N (one process per "
                                      "device), as torch recommends")
        self.device_ids = device_ids
        self.output_device = device_ids[0] if output_device is None else output_device
        self.src_device_obj = as_device(f"cuda:{device_ids[0]}") if device_ids else None

    def forward(self, *inputs, **kwargs):
        if not self.device_ids:
            return self.module(*inputs, **kwargs)
        dev = self.src_device_obj
        for t in list(self.module.parameters()) + list(self.module.buffers()):
            if t.device != dev:
                raise RuntimeError(f"module must have its parameters and buffers on device {dev} (device_ids[0]) "
                                   f"but found one of them on device: {t.device}")
        out = self.module(*_to(inputs, dev), **_to(kwargs, dev))
        return _to(out, as_device(f"cuda:{self.output_device}") if isinstance(self.output_device, int)
                   else as_device(self.output_device))


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """torch.nn.parallel.data_parallel: DataParallel's forward as a function (DCGAN's multi-GPU branch calls it),
    with one device at most. Unlike the DataParallel module it needs a device, as torch's."""
    if device_count() == 0:
        raise RuntimeError("data_parallel: device type could not be determined (no CUDA device is available; call "
                           "the module directly on the CPU)")
    inputs = inputs if isinstance(inputs, tuple) else (() if inputs is None else (inputs,))
    return DataParallel(module, device_ids, output_device, dim)(*inputs, **(module_kwargs or {}))


class SyncBatchNorm(_BatchNorm):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.ndim < 2:
            raise ValueError(f"expected at least 2D input (got {input.ndim}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        if self.training and dist.is_initialized() and dist.get_world_size(self.process_group) > 1:
            raise NotImplementedError(
                f"SyncBatchNorm in training mode over {dist.get_world_size(self.process_group)} ranks: the "
                "statistics synchronised across ranks (forward and backward) are not implemented in tensorgrad. "
                "Use BatchNorm (per-rank statistics, what DistributedDataParallel gives without conversion) or "
                "eval mode")
        return super().forward(input)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm1d/2d/3d inside it replaced by a SyncBatchNorm that shares its weight,
        bias and running statistics (the tensors themselves, so an optimizer built before still trains them)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats, process_group)
            if module.affine:
                out.weight = module.weight
                out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
            if hasattr(module, "qconfig"):
                out.qconfig = module.qconfig
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return out

    _ndims = tuple(range(2, 33))  # any batched input: (N, C, *)
