"""MNIST-shaped rows for the benchmarks: the real t10k images tiled up, or synthetic digits."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MNIST_T10K = REPO_ROOT.parent / "shared" / "data" / "mnist-t10k"


class Data:
    """MNIST-shaped rows: uint8 pixels, and float32 in [0, 1] made only when asked for."""

    def __init__(self, x_uint8, y, x_test_uint8, y_test, source):
        self.x_uint8, self.y, self.x_test_uint8, self.y_test, self.source = x_uint8, y, x_test_uint8, y_test, source
        self._float32 = None

    @property
    def x_float32(self):
        if self._float32 is None:
            self._float32 = self.x_uint8.astype("float32") / 255
        return self._float32

    @property
    def x_test_float32(self):
        return self.x_test_uint8.astype("float32") / 255


def load_data(num_samples: int, seed: int) -> Data:
    """Returns MNIST-shaped data: real t10k images tiled up, or synthetic digits."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if (MNIST_T10K / "t10k-images-idx3-ubyte.gz").is_file():
        from keras_minibatch.data.idx_files import read_idx

        images = read_idx(MNIST_T10K / "t10k-images-idx3-ubyte.gz", 3)
        labels = read_idx(MNIST_T10K / "t10k-labels-idx1-ubyte.gz", 1).astype(np.int64)
        order = rng.permutation(len(labels))
        test, train = order[:2000], order[2000:]
        source = f"mnist-t10k: {len(train):,} real images tiled to {num_samples:,}, {len(test):,} held out"
    else:
        templates = rng.integers(0, 256, (10, 28, 28))
        labels = rng.integers(0, 10, 12_000)
        noise = rng.normal(0, 60, (len(labels), 28, 28))
        images = np.clip(templates[labels] * 0.6 + noise, 0, 255).astype(np.uint8)
        test, train = np.arange(2000), np.arange(2000, 12_000)
        source = f"synthetic (no {MNIST_T10K}): {len(train):,} images tiled to {num_samples:,}, 2,000 held out"
    tiled = rng.permutation(train[np.arange(num_samples) % len(train)])
    return Data(images[tiled], labels[tiled], images[test], labels[test], source)


def write_npz(data, folder: Path) -> Path:
    """Saves the rows as a `.npz` source for `keras-minibatch train` (uint8 pixels, as loaded)."""
    import numpy as np

    source = Path(folder, "data.npz")
    np.savez(source, x_train=data.x_uint8, y_train=data.y, x_test=data.x_test_uint8, y_test=data.y_test)
    return source
