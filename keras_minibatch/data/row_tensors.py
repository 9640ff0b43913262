"""Training rows as TensorFlow tensors, with the pixels copied once.

`tf.convert_to_tensor` copies an array more than once on the way and can keep
more than one copy. `rows_as_tensor` copies the chosen rows into an aligned
NumPy buffer that the tensor then uses as its own memory (DLPack), so the rows
exist once beside the caller's array, which the caller can then let go.

NumPy only at import time: TensorFlow is imported inside the function (the
command line checks its flags before TensorFlow loads).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

# TensorFlow's kernels need a tensor's memory aligned as its own allocator aligns it (64 bytes);
# an array handed over without a copy must start on such a boundary.
_TENSOR_ALIGNMENT = 64
_ROWS_PER_COPY = 4096  # Rows gathered at a time: a small buffer on the way, not a second copy.


def rows_as_tensor(x: np.ndarray | tf.Tensor, rows: np.ndarray | None = None) -> tf.Tensor:
    """Returns `x[rows]` (all of `x` when `rows` is `None`) as a tensor, copied once.

    A tensor is returned as it is, or gathered.

    Args:
        x: The inputs, rows first.
        rows: Indices of the rows to take, in order. Defaults to `None` (all).

    Returns:
        A tensor of `x`'s dtype.
    """
    import tensorflow as tf

    if tf.is_tensor(x):
        return x if rows is None else tf.gather(x, rows)
    x = np.asarray(x)
    shape = (len(x) if rows is None else len(rows), *x.shape[1:])
    num_bytes = math.prod(shape) * x.dtype.itemsize
    buffer = np.empty(num_bytes + _TENSOR_ALIGNMENT, dtype=np.uint8)
    start = -buffer.ctypes.data % _TENSOR_ALIGNMENT
    copy = buffer[start : start + num_bytes].view(x.dtype).reshape(shape)
    if rows is None:
        np.copyto(copy, x)
    else:
        for first in range(0, len(rows), _ROWS_PER_COPY):
            copy[first : first + _ROWS_PER_COPY] = x[rows[first : first + _ROWS_PER_COPY]]
    return tf.experimental.dlpack.from_dlpack(copy.__dlpack__())  # Keeps `copy`, and its buffer, alive.
