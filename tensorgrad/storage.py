"""torch.UntypedStorage, as far as code outside a framework reads it: the bytes a tensor's memory lives in.

Libraries identify shared memory by it (safetensors' save groups tensors by (device, untyped_storage().data_ptr(),
nbytes()) to refuse or deduplicate tied weights; checkpoint code compares data_ptr()s). Here a storage is a view of
the array that owns a tensor's memory: views of one tensor report one storage, as in torch. Building tensors from a
storage (torch.asarray(storage), UntypedStorage.from_file, Tensor.set_) is not provided."""
import numpy as np

from .autograd.version import root
from .backend import device_of
from .tensor import _ptr


class UntypedStorage:
    """Bytes: a 1-D uint8 array over the memory (of the array that owns a tensor's memory, of a mapped file, or a
    slice of either)."""
    __slots__ = ("_array",)

    def __init__(self, *args, **kwargs):
        raise RuntimeError("UntypedStorage(...): tensorgrad does not create storages; a tensor's storage is "
                           "tensor.untyped_storage(), a file's UntypedStorage.from_file(filename, shared, nbytes)")

    @classmethod
    def _wrap(cls, byte_array):
        s = object.__new__(cls)
        s._array = byte_array
        return s

    @classmethod
    def _of(cls, array):
        owner = root(array)
        if not (owner.flags.c_contiguous or owner.flags.f_contiguous):  # (an owner is one block; be safe anyway)
            raise RuntimeError("untyped_storage(): the memory's owner is not one contiguous block")
        return cls._wrap(owner.reshape(-1, order="A").view(np.uint8))

    @classmethod
    def from_file(cls, filename, shared=False, nbytes=0):
        """The file's first nbytes bytes, memory-mapped: shared=True writes go to the file, else copy-on-write
        (torch's MAP_PRIVATE)."""
        return cls._wrap(np.memmap(filename, dtype=np.uint8, mode="r+" if shared else "c", shape=(int(nbytes),)))

    def untyped(self):
        return self

    def __getitem__(self, index):
        if isinstance(index, slice):
            return UntypedStorage._wrap(self._array[index])
        return int(self._array[index])

    def data_ptr(self):
        return int(_ptr(self._array))

    def nbytes(self):
        return int(self._array.nbytes)

    def size(self):
        return self.nbytes()

    def __len__(self):
        return self.nbytes()

    def element_size(self):
        return 1

    @property
    def device(self):
        return device_of(self._array)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    def __eq__(self, other):
        return isinstance(other, UntypedStorage) and (self.data_ptr(), self.nbytes()) == (other.data_ptr(),
                                                                                           other.nbytes())

    def __hash__(self):
        return hash((self.data_ptr(), self.nbytes()))

    def __repr__(self):
        return f"<tensorgrad.UntypedStorage of {self.nbytes()} bytes on {self.device}>"


def untyped_storage(tensor):
    """Tensor.untyped_storage(): the storage of the memory tensor lives in (its views share it)."""
    return UntypedStorage._of(tensor.array)
