"""Tests for keras_minibatch.data: every source, every check, on tiny files in tmp_path."""

import contextlib
import gzip
import inspect
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from keras_minibatch.config import SOURCE_NAMES
from keras_minibatch.data import loading
from keras_minibatch.data.array_checks import to_pixels
from keras_minibatch.data.dataset import DataError, Dataset
from keras_minibatch.data.loading import load_dataset
from keras_minibatch.data.sources import check_source
from keras_minibatch.data.splits import stratified_validation_order

MNIST_T10K = Path(__file__).resolve().parents[2] / "shared/data/mnist-t10k"
needs_mnist_t10k = pytest.mark.skipif(
    not MNIST_T10K.is_dir(), reason=f"real MNIST test split not found at {MNIST_T10K}"
)


def idx_bytes(array: np.ndarray, *, magic: int | None = None) -> bytes:
    """Valid IDX bytes for a uint8 array (or an invalid file with another `magic`)."""
    array = np.asarray(array, dtype=np.uint8)
    magic = magic or (2051 if array.ndim == 3 else 2049)
    header = magic.to_bytes(4, "big") + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def write_idx(folder: Path, name: str, content: bytes, *, gz: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name + ".gz" if gz else name)
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


def tiny(num_samples: int = 12, *, num_classes: int = 3, seed: int = 0):
    """uint8 images (n, 4, 4) and int64 labels cycling through the classes."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(num_samples, 4, 4), dtype=np.uint8)
    return x, np.arange(num_samples, dtype=np.int64) % num_classes


def write_npz(tmp_path: Path, **arrays) -> str:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return str(path)


def write_pair(folder: Path, prefix: str, x, y, *, gz: bool = False) -> None:
    write_idx(folder, f"{prefix}-images-idx3-ubyte", idx_bytes(x), gz=gz)
    write_idx(folder, f"{prefix}-labels-idx1-ubyte", idx_bytes(y), gz=gz)


def offline(*args, **kwargs):
    raise OSError("network is unreachable (test)")


def test_source_names_are_pinned():
    assert SOURCE_NAMES == ("mnist", "fashion_mnist", "digits")


def test_module_imports_neither_tensorflow_nor_keras():
    # Loaded by file path so the test holds whatever keras_minibatch/__init__ imports.
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('loading', {loading.__file__!r})\n"
        "module = sys.modules['loading'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "from keras_minibatch.data.sources import check_source\n"
        "check_source('digits')\n"
        "module.load_dataset('digits')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_digits_are_mapped_onto_0_255_and_carved():
    dataset = load_dataset("digits")
    assert dataset.source == "digits (scikit-learn, 1797 images 8x8)"
    assert (len(dataset.y_train), len(dataset.y_test)) == (1437, 360)
    assert dataset.input_shape == (8, 8)
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert dataset.x_train.min() == 0 and dataset.x_train.max() == 255
    # The 17 levels 0..16 land on 17 distinct pixel values, 0 and 16 on 0 and 255.
    assert np.all(np.isin(dataset.x_train, np.rint(np.arange(17) * 255 / 16)))
    assert dataset.num_classes == 10 and dataset.test_split_carved


def test_carved_split_is_deterministic_per_seed():
    first, again = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    other = load_dataset("digits", seed=4)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.y_train, other.y_train)


@needs_mnist_t10k
def test_mnist_t10k_folder_is_carved_8000_2000_with_known_facts():
    dataset = load_dataset(str(MNIST_T10K), test_fraction=0.2, seed=0)
    assert (len(dataset.y_train), len(dataset.y_test)) == (8000, 2000)
    assert dataset.input_shape == (28, 28) and dataset.num_classes == 10
    assert dataset.test_split_carved and dataset.source == str(MNIST_T10K)
    train, test = dataset.class_counts("train"), dataset.class_counts("test")
    assert [train[k] + test[k] for k in range(10)] == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009
    ]
    pixels = np.concatenate([dataset.x_train, dataset.x_test])
    assert pixels.dtype == np.uint8 and pixels.mean() == pytest.approx(33.79, abs=0.005)


@needs_mnist_t10k
def test_mnist_t10k_files_keep_their_order_as_a_train_pair(tmp_path):
    for name in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz"):
        shutil.copy(MNIST_T10K / f"t10k-{name}", tmp_path / f"train-{name}")
        shutil.copy(MNIST_T10K / f"t10k-{name}", tmp_path / f"t10k-{name}")
    dataset = load_dataset(str(tmp_path))
    assert not dataset.test_split_carved
    assert dataset.y_train[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    np.testing.assert_array_equal(dataset.x_train, dataset.x_test)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_folder_with_train_and_test_pairs_is_used_as_given(tmp_path, gz):
    x, y = tiny(12)
    write_pair(tmp_path, "train", x[:8], y[:8], gz=gz)
    write_pair(tmp_path, "t10k", x[8:], y[8:], gz=gz)
    dataset = load_dataset(str(tmp_path))
    assert not dataset.test_split_carved
    np.testing.assert_array_equal(dataset.x_train, x[:8])
    np.testing.assert_array_equal(dataset.y_test, y[8:])


def test_idx_folder_with_one_pair_is_carved(tmp_path):
    x, y = tiny(20)
    write_pair(tmp_path, "t10k", x, y, gz=True)
    dataset = load_dataset(str(tmp_path), test_fraction=0.25)
    assert dataset.test_split_carved
    assert (len(dataset.y_train), len(dataset.y_test)) == (15, 5)


def test_npz_in_keras_layout_is_used_as_given(tmp_path):
    x, y = tiny(12)
    path = write_npz(tmp_path, x_train=x[:8], y_train=y[:8], x_test=x[8:], y_test=y[8:])
    dataset = load_dataset(path)
    assert not dataset.test_split_carved and dataset.source == path
    np.testing.assert_array_equal(dataset.x_test, x[8:])
    assert dataset.num_classes == 3


@pytest.mark.parametrize("x_key, y_key", [("x", "y"), ("x_train", "y_train")])
def test_npz_without_test_split_is_carved(tmp_path, x_key, y_key):
    x, y = tiny(12)
    dataset = load_dataset(write_npz(tmp_path, **{x_key: x, y_key: y}))
    assert dataset.test_split_carved
    assert (len(dataset.y_train), len(dataset.y_test)) == (9, 3)
    assert dataset.class_counts("test") == {0: 1, 1: 1, 2: 1}


@pytest.mark.parametrize(
    "pixels, expected",
    [
        (np.array([0, 51, 255], dtype=np.uint8), [0, 51, 255]),
        (np.array([0, 51, 255], dtype=np.int64), [0, 51, 255]),
        (np.array([0.0, 0.2, 1.0], dtype=np.float64), [0, 51, 255]),
        (np.array([0.0, 0.2004, 0.9985], dtype=np.float32), [0, 51, 255]),
        (np.array([0.0, 51.0, 255.0], dtype=np.float32), [0, 51, 255]),
        (np.array([0.4, 50.6, 254.5], dtype=np.float64), [0, 51, 254]),
    ],
    ids=["uint8", "int64", "float-unit", "float-unit-rounded", "float-255", "float-255-rounded"],
)
def test_pixels_become_uint8_levels(tmp_path, pixels, expected):
    x = np.broadcast_to(pixels, (2, 2, 3))
    path = write_npz(tmp_path, x_train=x, y_train=[0, 1], x_test=x, y_test=[1, 0])
    dataset = load_dataset(path)
    assert dataset.x_train.dtype == np.uint8
    np.testing.assert_array_equal(dataset.x_train[0, 0], expected)


def test_uint8_pixels_are_checked_without_a_copy():
    x, _ = tiny(12)
    # MNIST's uint8 pixels are not duplicated on their way to the Dataset.
    assert to_pixels(x, "x_train", None) is x


def test_trailing_channel_axes_of_size_1_are_squeezed(tmp_path):
    x, y = tiny(6)
    path = write_npz(
        tmp_path, x_train=x[..., None], y_train=y[:, None], x_test=x[..., None], y_test=y
    )
    dataset = load_dataset(path)
    assert dataset.x_train.shape == (6, 4, 4) and dataset.y_train.shape == (6,)


def test_mnist_is_read_from_the_cache_without_network(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", offline)
    x, y = tiny(12, num_classes=10)
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets/mnist.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    dataset = load_dataset("mnist", cache_dir=str(tmp_path))
    assert dataset.source == f"mnist (Keras, {tmp_path / 'datasets/mnist.npz'})"
    assert dataset.num_classes == 10 and not dataset.test_split_carved


def test_mnist_cache_defaults_to_keras_home(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    x, y = tiny(12, num_classes=10)
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets/mnist.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    assert len(load_dataset("mnist").y_train) == 12


def test_mnist_offline_without_cache_fails_fast_naming_alternatives(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", offline)
    start = time.monotonic()
    with pytest.raises(DataError, match=r"not cached at .*mnist\.npz.*--dataset=digits") as info:
        load_dataset("mnist", cache_dir=str(tmp_path))
    assert time.monotonic() - start < 5
    for alternative in ("mnist-t10k", "a .npz file in Keras' MNIST layout", "copy mnist.npz"):
        assert alternative in str(info.value)


def test_mnist_download_uses_keras_get_file_with_cache_dir(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: contextlib.nullcontext())
    calls = []

    def fake_get_file(**kwargs):
        calls.append(kwargs)
        path = Path(kwargs["cache_dir"], "datasets", kwargs["fname"])
        path.parent.mkdir(parents=True)
        x, y = tiny(12, num_classes=10)
        np.savez(path, x_train=x, y_train=y, x_test=x, y_test=y)
        return str(path)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    assert len(load_dataset("mnist", cache_dir=str(tmp_path)).y_test) == 12
    (call,) = calls
    assert call["cache_dir"] == str(tmp_path) and call["fname"] == "mnist.npz"
    keras_source = inspect.getsource(keras.datasets.mnist.load_data)
    assert call["file_hash"] in keras_source and call["origin"].endswith("/mnist.npz")


def test_mnist_download_failure_raises_data_error(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: contextlib.nullcontext())

    def failing_get_file(**kwargs):
        raise Exception("URL fetch failure (test)")

    monkeypatch.setattr(keras.utils, "get_file", failing_get_file)
    with pytest.raises(DataError, match=r"downloading MNIST failed \(URL fetch failure.*digits"):
        load_dataset("mnist", cache_dir=str(tmp_path))


FASHION_FILES = ("train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz")


def write_fashion_cache(folder: Path, *, skip: tuple[str, ...] = ()) -> None:
    """Keras' Fashion-MNIST cache as `keras.datasets.fashion_mnist.load_data` leaves it, with tiny images."""
    x, y = tiny(20, num_classes=10)
    for prefix, (images, labels) in {"train": (x[:12], y[:12]), "t10k": (x[12:], y[12:])}.items():
        for name, content in ((f"{prefix}-images-idx3-ubyte", idx_bytes(images)), (f"{prefix}-labels-idx1-ubyte", idx_bytes(labels))):
            if f"{name}.gz" not in skip:
                write_idx(folder, name, content, gz=True)


def test_fashion_mnist_is_read_from_keras_cache_without_network(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", offline)
    write_fashion_cache(tmp_path / "datasets" / "fashion-mnist")
    dataset = load_dataset("fashion_mnist", cache_dir=str(tmp_path))
    assert dataset.source == f"fashion_mnist (Keras, {tmp_path / 'datasets/fashion-mnist'})"
    assert (len(dataset.y_train), len(dataset.y_test), dataset.num_classes) == (12, 8, 10)
    assert not dataset.test_split_carved
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert len(load_dataset("fashion_mnist").y_train) == 12


def test_fashion_mnist_offline_without_cache_fails_fast_naming_alternatives(tmp_path, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", offline)
    write_fashion_cache(tmp_path / "datasets" / "fashion-mnist", skip=("t10k-images-idx3-ubyte.gz",))
    start = time.monotonic()
    with pytest.raises(DataError, match=r"'fashion_mnist' is not cached at .*fashion-mnist \(t10k-images-idx3-ubyte\.gz missing\)") as info:
        load_dataset("fashion_mnist", cache_dir=str(tmp_path))
    assert time.monotonic() - start < 5
    for alternative in ("--dataset=digits", "mnist-t10k", "a .npz file in Keras' MNIST layout", "copy Keras' four Fashion-MNIST files"):
        assert alternative in str(info.value)


def test_fashion_mnist_download_fetches_only_the_missing_files_as_keras_does(tmp_path, monkeypatch):
    keras = pytest.importorskip("keras")
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: contextlib.nullcontext())
    folder = tmp_path / "datasets" / "fashion-mnist"
    write_fashion_cache(folder, skip=FASHION_FILES[:2])
    complete = tmp_path / "complete"
    write_fashion_cache(complete)
    calls = []

    def fake_get_file(**kwargs):
        calls.append(kwargs)
        path = Path(kwargs["cache_dir"], kwargs["cache_subdir"], kwargs["fname"])
        shutil.copy(complete / kwargs["fname"], path)
        return str(path)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    assert len(load_dataset("fashion_mnist", cache_dir=str(tmp_path)).y_test) == 8
    assert [call["fname"] for call in calls] == list(FASHION_FILES[:2])
    keras_source = inspect.getsource(keras.datasets.fashion_mnist.load_data)
    for call in calls:
        assert call["cache_subdir"] == "datasets/fashion-mnist" and call["origin"].endswith("/" + call["fname"])
        assert call["origin"].rsplit("/", 1)[0] + "/" in keras_source


def test_max_train_samples_keeps_a_stratified_seeded_subsample():
    dataset = load_dataset("digits", max_train_samples=100, seed=1)
    assert len(dataset.y_train) == 100 and len(dataset.y_test) == 360
    assert set(dataset.class_counts("train").values()) == {10}
    again = load_dataset("digits", max_train_samples=100, seed=1)
    np.testing.assert_array_equal(dataset.x_train, again.x_train)


def test_max_train_samples_above_the_training_size_keeps_everything():
    dataset = load_dataset("digits", max_train_samples=10_000)
    assert len(dataset.y_train) == 1437


def _npz_error_cases():
    x, y = tiny(12)
    nan_x = (x / 255.0).copy()
    nan_x[0, 0, :2] = np.nan
    return [
        ({"a": x, "b": y}, r"holds arrays \['a', 'b'\]; expected x_train, y_train, x_test"),
        ({"x_train": x, "y_train": y, "x_test": x}, r"holds arrays .*; expected"),
        ({"x": x[:0], "y": y[:0]}, r"`x` in .* is empty \(0 samples\)"),
        ({"x": x, "y": y[:11]}, r"`x` in .* has 12 images but `y` in .* has 11 labels"),
        ({"x": x.reshape(12, 16), "y": y}, r"has shape \(12, 16\); expected images"),
        ({"x": x, "y": y + 0.5}, "labels must be integers, got float64"),
        ({"x": x, "y": y.astype(float)}, "labels must be integers, got float64"),
        ({"x": x, "y": np.eye(3, dtype=int)[y]}, r"shape \(12, 3\).*argmax"),
        ({"x": x, "y": y - 1}, r"`y` in .* has 4 negative labels \(smallest -1\)"),
        ({"x": nan_x, "y": y}, r"`x` in .* has 2 NaN/inf pixel values"),
        # Found before the splits' scales are compared: a NaN or inf would decide the scale wrongly.
        ({"x_train": nan_x, "y_train": y, "x_test": x / 255.0, "y_test": y}, r"`x_train` in .* has 2 NaN/inf pixel values"),
        ({"x_train": x / 255.0, "y_train": y, "x_test": np.where(nan_x == nan_x, nan_x, np.inf), "y_test": y}, r"`x_test` in .* has 2 NaN/inf"),
        ({"x": x * 2.0, "y": y}, r"pixel values from .* to \d+\.0; expected integers in 0\.\.255"),
        ({"x": x.astype(int) - 1, "y": y}, r"pixel values from -1 to"),
        ({"x": x, "y": np.r_[y[:11], 3]}, r"class 3 has only 1 sample"),
        ({"x": x, "y": np.r_[y[:11], 7]}, r"labels up to 7 but 4 class ids between are missing \(first: 3, 4, 5, 6\)"),
        ({"x": x, "y": np.zeros_like(y)}, r"holds only class 0; a classifier needs at least two classes"),
        (
            {"x_train": x, "y_train": y, "x_test": x, "y_test": y + 1},
            r"`y_test` in .* has label 3, but labels must be 0\.\.2; every test class",
        ),
    ]


@pytest.mark.parametrize("arrays, match", _npz_error_cases())
def test_malformed_npz_raises(tmp_path, arrays, match):
    with pytest.raises(DataError, match=match):
        load_dataset(write_npz(tmp_path, **arrays))


def test_unreadable_npz_raises(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"not an archive")
    with pytest.raises(DataError, match=r"could not be read as a \.npz archive"):
        load_dataset(str(path))


def _idx_error_cases():
    x, y = tiny(4)
    images, labels = idx_bytes(x), idx_bytes(y)
    return [
        ({"a-images-idx3-ubyte": labels, "a-labels-idx1-ubyte": labels},
         r"has IDX magic number 2049; expected 2051 \(uint8 images, 3 dims\)"),
        ({"a-images-idx3-ubyte": idx_bytes(x, magic=0x0D03), "a-labels-idx1-ubyte": labels},
         r"magic number 3331; expected 2051"),
        ({"a-images-idx3-ubyte": images[:-5], "a-labels-idx1-ubyte": labels},
         r"is truncated: header promises \(4, 4, 4\) = 64 bytes of data, found 59"),
        ({"a-images-idx3-ubyte": images[:7], "a-labels-idx1-ubyte": labels},
         r"truncated: 7 bytes, less than its 16-byte IDX header"),
        ({"a-images-idx3-ubyte": images + b"x", "a-labels-idx1-ubyte": labels},
         r"longer than its header says"),
        ({"a-images-idx3-ubyte": images, "a-labels-idx1-ubyte": idx_bytes(y[:3])},
         r"a-images-idx3-ubyte has 4 images but .*a-labels-idx1-ubyte has 3 labels"),
        ({"a-images-idx3-ubyte": images}, r"has no matching labels \(-idx1-ubyte\) file"),
        ({"a-images-idx3-ubyte": images, "a-images-idx3-ubyte.gz": images,
          "a-labels-idx1-ubyte": labels},
         r"holds two IDX files for 'a': a-images-idx3-ubyte and a-images-idx3-ubyte\.gz"),
        ({"README.txt": b"hello"}, r"holds no IDX files .* found \['README\.txt'\]"),
        ({"x-images-idx3-ubyte": images, "x-labels-idx1-ubyte": labels,
          "y-images-idx3-ubyte": images, "y-labels-idx1-ubyte": labels},
         r"holds IDX pairs \['x', 'y'\]; expected one pair, or two"),
    ]


@pytest.mark.parametrize("files, match", _idx_error_cases())
def test_malformed_idx_folder_raises(tmp_path, files, match):
    for name, content in files.items():
        write_idx(tmp_path, name, content)
    with pytest.raises(DataError, match=match):
        load_dataset(str(tmp_path))


def test_corrupt_gzip_idx_raises(tmp_path):
    x, y = tiny(4)
    write_idx(tmp_path, "a-labels-idx1-ubyte", idx_bytes(y), gz=True)
    (tmp_path / "a-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=r"a-images-idx3-ubyte\.gz could not be read"):
        load_dataset(str(tmp_path))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"test_fraction": 0.0}, r"`test_fraction` \(0\.0\) must be a number strictly"),
        ({"test_fraction": 1}, r"`test_fraction` \(1\) must be"),
        ({"test_fraction": float("nan")}, r"`test_fraction` \(nan\) must be"),
        ({"test_fraction": True}, r"`test_fraction` \(True\) must be"),
        ({"test_fraction": 0.001}, r"`test_fraction` \(0\.001\) splits 1797 samples into"),
        ({"max_train_samples": 0}, r"`max_train_samples` \(0\) must be None or a positive"),
        ({"max_train_samples": 5}, r"`max_train_samples` \(5\) is smaller than the 10 classes"),
        ({"seed": -1}, r"`seed` \(-1\) must be a non-negative integer"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(DataError, match=match):
        load_dataset("digits", **kwargs)


def test_check_source_accepts_names_npz_files_and_idx_folders(tmp_path):
    x, y = tiny(4)
    write_pair(tmp_path / "idx", "train", x, y)
    for source in ("mnist", "digits", write_npz(tmp_path, x=x, y=y), str(tmp_path / "idx")):
        check_source(source)


@pytest.mark.parametrize(
    "source, match",
    [
        ("foo", r"^`dataset` 'foo' is not a known source or an existing path; use one of: "
                r"mnist, fashion_mnist, digits, a \.npz file \(x_train, y_train, x_test, y_test\) or a "
                r"folder of IDX files$"),
        ("{tmp}/missing.npz", r"missing\.npz' is not a known source or an existing path"),
        ("{tmp}/notes.txt", r"notes\.txt' is a file but not a \.npz file; use one of"),
        ("{tmp}", r"holds no IDX files"),
    ],
)
def test_check_source_rejects_unusable_sources(tmp_path, source, match):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=match):
        check_source(source.format(tmp=tmp_path))


@pytest.mark.parametrize("validation_split", [0.1, 0.2, 0.3, 0.25, 0.5])
def test_validation_order_puts_a_stratified_sample_last(validation_split):
    y = np.repeat(np.arange(10), [5, 9, 12, 3, 20, 7, 8, 10, 6, 30])
    order = stratified_validation_order(y, validation_split=validation_split, seed=0)
    assert sorted(order.tolist()) == list(range(len(y)))
    split_at = int(len(y) * (1 - validation_split))
    assert set(y[order[split_at:]]) == set(range(10)) == set(y[order[:split_at]])
    expected = np.bincount(y) * validation_split
    assert np.all(np.abs(np.bincount(y[order[split_at:]]) - expected) <= 1.5)


def test_validation_order_holds_out_exactly_what_keras_holds_out():
    slicing = pytest.importorskip("keras.src.trainers.data_adapters.array_slicing")
    y = np.arange(200) % 10
    # 90 * (1 - 0.3) is 62.99999999999999: Keras floors it, so 28 rows are held out.
    cases = [(90, 0.3), (50, 0.34), (137, 0.1), (200, 0.3), (30, 1 / 3)]
    for num_samples, validation_split in cases:
        order = stratified_validation_order(
            y[:num_samples], validation_split=validation_split, seed=0
        )
        _, held_out = slicing.train_validation_split(order, validation_split)
        assert set(y[np.asarray(held_out)]) == set(range(10))
        assert len(held_out) == num_samples - int(num_samples * (1 - validation_split))


def test_validation_order_is_seeded():
    y = np.arange(100) % 4
    first = stratified_validation_order(y, validation_split=0.2, seed=7)
    np.testing.assert_array_equal(
        first, stratified_validation_order(y, validation_split=0.2, seed=7)
    )
    assert not np.array_equal(
        first, stratified_validation_order(y, validation_split=0.2, seed=8)
    )


@pytest.mark.parametrize(
    "y, validation_split, match",
    [
        (np.arange(20) % 2, 0.0, r"`validation_split` \(0\.0\) must be a number strictly"),
        (np.arange(20) % 2, 1.0, r"`validation_split` \(1\.0\) must be"),
        (np.r_[np.arange(20) % 2, 2], 0.2, r"class 2 has only 1 sample.*misses it"),
        (np.arange(40) % 10, 0.2, r"into 32 to train on and 8 to validate on, but each part"),
        (np.arange(20) % 2 + 0.0, 0.2, "labels must be integers, got float64"),
        (np.zeros(0, int), 0.2, r"`y` is empty"),
    ],
)
def test_validation_order_rejects_splits_that_miss_a_class(y, validation_split, match):
    with pytest.raises(DataError, match=match):
        stratified_validation_order(y, validation_split=validation_split, seed=0)


def test_dataset_reports_shape_and_counts_including_empty_classes():
    x = np.zeros((3, 2, 5), np.uint8)
    dataset = Dataset(
        x_train=x, y_train=np.array([0, 0, 2]), x_test=x[:1], y_test=np.array([2]),
        source="test", num_classes=4, test_split_carved=False,
    )
    assert dataset.input_shape == (2, 5)
    assert dataset.class_counts("train") == {0: 2, 1: 0, 2: 1, 3: 0}
    with pytest.raises(ValueError, match=r"`split` must be 'train' or 'test', got 'val'"):
        dataset.class_counts("val")


def test_dataset_rejects_mismatched_lengths():
    x = np.zeros((3, 2, 2), np.float32)
    with pytest.raises(DataError, match=r"`x_test` has 3 samples but `y_test` has 1"):
        Dataset(x_train=x, y_train=np.zeros(3, int), x_test=x, y_test=np.zeros(1, int),
                     source="test", num_classes=1, test_split_carved=False)


def test_digits_read_without_scikit_learn_equal_scikit_learns_own():
    # The file is parsed here as load_digits parses it; importing scikit-learn costs more than a digits run trains.
    from sklearn.datasets import load_digits as sklearn_load_digits

    from keras_minibatch.data import sources

    images, target = sources._digits_arrays()
    reference = sklearn_load_digits()
    np.testing.assert_array_equal(images, reference.images)
    np.testing.assert_array_equal(target, reference.target)
    assert images.dtype == reference.images.dtype and target.dtype == reference.target.dtype
