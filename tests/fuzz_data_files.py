"""Mutates real `.npz` and IDX bytes and loads each result: success or one `DataError`, nothing else.

Run by `test_hostile_inputs.py` in a child process under an address-space limit, so a
file whose header makes NumPy allocate far more than the file could hold fails the
test instead of the machine. Standard library, NumPy and hypothesis only.
"""

import gzip
import io
import resource
import sys
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_minibatch.data.dataset import DataError
from keras_minibatch.data.loading import load_dataset

MEMORY_LIMIT = 3 * 2**30


def npz_bytes(compressed: bool) -> bytes:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 6, 6)).astype(np.uint8)
    y = np.arange(30) % 3
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, x_train=x, y_train=y, x_test=x[:9], y_test=y[:9])
    return buffer.getvalue()


def idx_bytes(dims: int) -> bytes:
    if dims == 3:
        header, body = np.array([2051, 30, 6, 6], ">u4").tobytes(), np.random.default_rng(1).integers(0, 256, 30 * 36).astype(np.uint8).tobytes()
    else:
        header, body = np.array([2049, 30], ">u4").tobytes(), (np.arange(30) % 3).astype(np.uint8).tobytes()
    return header + body


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    mutable = bytearray(data)
    for position, value in edits:
        mutable[position % len(mutable)] = value
    return bytes(mutable[:cut] if cut is not None else mutable)


EDITS = st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 255)), max_size=6)
CUTS = st.none() | st.integers(0, 4000)


def load_or_data_error(source: str) -> None:
    try:
        load_dataset(source, max_train_samples=None)
    except DataError as error:
        assert "\n" not in str(error).strip(), str(error)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(compressed=st.booleans(), edits=EDITS, cut=CUTS)
def fuzz_npz(compressed, edits, cut):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        path.write_bytes(mutate(npz_bytes(compressed), edits, cut))
        load_or_data_error(str(path))


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(which=st.sampled_from([3, 1]), gzipped=st.booleans(), edits=EDITS, cut=CUTS, header_first=st.booleans())
def fuzz_idx(which, gzipped, edits, cut, header_first):
    with tempfile.TemporaryDirectory() as folder:
        files = {3: idx_bytes(3), 1: idx_bytes(1)}
        # Header fields (the sizes) are where a lie costs memory: aim half the edits there.
        files[which] = mutate(files[which], [(position % 16, value) for position, value in edits] if header_first else edits, cut)
        for dims, data in files.items():
            name = f"train-{'images' if dims == 3 else 'labels'}-idx{dims}-ubyte"
            if gzipped:
                (Path(folder) / f"{name}.gz").write_bytes(gzip.compress(data) if dims != which else gzip.compress(data)[: cut or None])
            else:
                (Path(folder) / name).write_bytes(data)
        load_or_data_error(folder)


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    fuzz_npz()
    fuzz_idx()
    print("fuzzed: every file loaded or was refused in one DataError line")
    sys.exit(0)
