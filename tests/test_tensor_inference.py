"""tensor()'s dtype inference from Python data that holds NumPy scalars, against torch.tensor: each element counts
with its own type (Python float -> the default dtype, int -> int64, bool -> bool, a NumPy scalar -> its dtype) and
torch promotes over them, under either default float dtype."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

CASES = [[np.float64(1.5)], [np.float64(1), 2.0], [np.float32(1.5)], [np.int32(3)], [np.int32(3), 2],
         [[np.float64(1)], [2.0]], np.float64(2.0), [np.bool_(True)], [np.float16(1)], [1, np.float64(2)], [1.5, 2],
         [1, 2], [True, 2], 3.5, 7, [[1.0, 2.0]], [np.float32(1), 2.0], [np.uint8(3)], [np.float16(1), 2.0],
         (1.0, np.float32(2)), [], [[np.int16(1), np.int8(2)]]]


@pytest.mark.parametrize("default", ["float32", "float64"])
def test_dtype_inference_matches_torch(default):
    prev_t, prev_g = torch.get_default_dtype(), tg.get_default_dtype()
    torch.set_default_dtype(getattr(torch, default))
    tg.set_default_dtype(getattr(tg, default))
    try:
        for v in CASES:
            ours, theirs = tg.tensor(v), torch.tensor(v)
            assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (v, ours.dtype, theirs.dtype)
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    finally:
        torch.set_default_dtype(prev_t)
        tg.set_default_dtype(prev_g)
