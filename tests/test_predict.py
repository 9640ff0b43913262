"""`predict` and `export_model` on real MNIST digits written as image files: a small model, images it never saw.

The model trains on part of the official MNIST test images (the carved training split);
the images classified are the held-out test split, written as PNG files three ways.
"""

import json
import warnings

import keras
import numpy as np
import pytest
from PIL import Image

from keras_minibatch import DataError, TrainConfig, export_model, load_dataset, predict, train_and_evaluate
from keras_minibatch.training.model import build_mlp

PAPER_TOLERANCE, UPSCALED_TOLERANCE, EXPORT_AGREEMENT = 0.02, 0.04, 0.998


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """A run folder trained on 3,000 of the carved training rows, and the held-out test split."""
    from conftest import MNIST_T10K

    if not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST data not found at {MNIST_T10K}")
    config = TrainConfig(dataset=str(MNIST_T10K), max_train_samples=3000, epochs=4, hidden_units=(64,), seed=0)
    run = tmp_path_factory.mktemp("mnist") / "run"
    train_and_evaluate(config, run, verbose=0)
    test = load_dataset(config.dataset, test_fraction=config.test_fraction, seed=config.seed)
    return run, test.x_test, test.y_test


@pytest.fixture(scope="module")
def png_folders(mnist_run, tmp_path_factory):
    """The test images as PNG files: as they are, as dark ink on light paper, and upscaled three times in RGB."""
    _, x_test, _ = mnist_run
    root = tmp_path_factory.mktemp("pngs")
    for kind in ("plain", "paper", "upscaled"):
        (root / kind).mkdir()
    for index, image in enumerate(x_test):
        name = f"{index:04d}.png"
        Image.fromarray(image).save(root / "plain" / name)
        Image.fromarray(255 - image).save(root / "paper" / name)
        Image.fromarray(image).resize((84, 84), Image.Resampling.BICUBIC).convert("RGB").save(root / "upscaled" / name)
    return root


@pytest.fixture(scope="module")
def plain_predictions(mnist_run, png_folders):
    return predict(mnist_run[0], png_folders / "plain")


def keras_probabilities(run, x):
    return keras.models.load_model(run / "model.keras").predict(x, batch_size=256, verbose=0)


def test_png_files_of_test_images_get_evaluates_predictions(mnist_run, png_folders, plain_predictions):
    run, x_test, y_test = mnist_run
    result = plain_predictions
    assert [row.path for row in result.rows] == sorted(str(path) for path in (png_folders / "plain").iterdir())
    assert not result.failures and not any(row.inverted for row in result.rows)
    assert np.array_equal(result.classes, keras_probabilities(run, x_test).argmax(axis=1))
    accuracy = float(np.mean(result.classes == y_test))
    assert accuracy == pytest.approx(json.loads((run / "metrics.json").read_text())["test_accuracy"], abs=1e-6)
    assert accuracy > 0.85
    assert np.allclose(result.probabilities.sum(axis=1), 1, atol=1e-5)


def test_dark_ink_on_light_paper_is_inverted_and_scores_within_2_percent(mnist_run, png_folders, plain_predictions):
    run, _, y_test = mnist_run
    plain = np.mean(plain_predictions.classes == y_test)
    result = predict(run, png_folders / "paper")
    assert all(row.inverted for row in result.rows)
    assert np.mean(result.classes == y_test) >= plain - PAPER_TOLERANCE
    assert np.mean(predict(run, png_folders / "paper", invert=False).classes == y_test) < 0.5  # not inverted, it fails


def test_upscaled_rgb_images_are_made_as_mnist_was_and_score_within_4_percent(mnist_run, png_folders, plain_predictions):
    run, _, y_test = mnist_run
    plain = np.mean(plain_predictions.classes == y_test)
    result = predict(run, png_folders / "upscaled")
    accuracy = np.mean(result.classes == y_test)
    print(f"accuracy: plain {plain:.4f}, upscaled RGB {accuracy:.4f}")
    assert accuracy >= plain - UPSCALED_TOLERANCE and not any(row.inverted for row in result.rows)


def test_arrays_in_npy_and_npz_files_and_in_memory(mnist_run, tmp_path):
    run, x_test, _ = mnist_run
    expected = keras_probabilities(run, x_test[:100]).argmax(axis=1)
    np.save(tmp_path / "images.npy", x_test[:100])
    np.savez(tmp_path / "images.npz", x=x_test[:100], y=np.zeros(100))
    for name in ("images.npy", "images.npz"):
        result = predict(str(run / "model.keras"), [tmp_path / name])
        assert np.array_equal(result.classes, expected) and result.rows[7].path == f"{tmp_path / name}[7]"
    in_memory = predict(keras.models.load_model(run / "model.keras"), x_test[:100])
    assert np.array_equal(in_memory.classes, expected) and in_memory.rows[0].path == "array[0]"


def test_unreadable_images_are_reported_while_the_others_are_classified(mnist_run, png_folders, tmp_path):
    run, _, _ = mnist_run
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("0000.png", "0001.png"):
        (folder / name).write_bytes((png_folders / "plain" / name).read_bytes())
    (folder / "0002.png").write_bytes(b"truncated")
    (folder / "notes.txt").write_text("not an image")
    result = predict(run, folder)
    assert [row.path for row in result.rows] == [str(folder / "0000.png"), str(folder / "0001.png")]
    assert [path for path, _ in result.failures] == [str(folder / "0002.png")]
    assert result.skipped == ((str(folder), 1),)


def test_a_model_that_is_not_of_images_is_one_clear_error(tmp_path):
    model = keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation="softmax")])
    model.save(tmp_path / "tabular.keras")
    with pytest.raises(DataError, match=r"takes input of shape \(None, 10\) and dtype float32, not images; predict and export need a model of one image input"):
        predict(tmp_path / "tabular.keras", np.zeros((1, 28, 28), np.uint8))


def test_a_channel_axis_and_scores_that_are_not_probabilities_are_handled():
    model = keras.Sequential([keras.Input((8, 8, 1), dtype="uint8"), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(), keras.layers.Dense(4)])
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    result = predict(model, images, invert=False)
    logits = model.predict(images[..., None], verbose=0)
    assert np.allclose(result.probabilities, np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), atol=1e-5)
    assert "softmax applied" in result.notes[0]


def test_digits_models_take_8x8_files_as_they_are_and_larger_drawings_in_their_layout(tmp_path):
    data = load_dataset("digits", seed=0)
    keras.utils.set_random_seed(0)
    model = build_mlp(data.input_shape, data.num_classes, hidden_units=(64,))
    model.fit(data.x_train, data.y_train, epochs=15, batch_size=32, verbose=0)
    model.save(tmp_path / "digits.keras")
    expected = model.predict(data.x_test, verbose=0).argmax(axis=1)
    for kind in ("small", "large"):
        (tmp_path / kind).mkdir()
    for index, image in enumerate(data.x_test):
        Image.fromarray(image).save(tmp_path / "small" / f"{index:03d}.png")
        Image.fromarray(255 - image).resize((64, 64), Image.Resampling.BILINEAR).convert("RGB").save(tmp_path / "large" / f"{index:03d}.png")
    assert np.array_equal(predict(tmp_path / "digits.keras", tmp_path / "small").classes, expected)
    large = predict(tmp_path / "digits.keras", tmp_path / "large")
    plain, drawn = np.mean(expected == data.y_test), np.mean(large.classes == data.y_test)
    print(f"digits accuracy: 8x8 files {plain:.4f}, 64x64 dark on light {drawn:.4f}")
    assert all(row.inverted for row in large.rows) and drawn >= plain - 0.1


def test_saved_model_and_tflite_exports_agree_with_the_keras_model(mnist_run, tmp_path):
    import tensorflow as tf

    run, x_test, _ = mnist_run
    expected = keras_probabilities(run, x_test)
    saved = export_model(run, tmp_path / "exports" / "digits", format="saved_model")
    assert saved.input.startswith("pixels: uint8 (batch, 28, 28), raw pixels 0..255") and saved.output.startswith("output_0: float32 (batch, 10)")
    serving = tf.saved_model.load(str(tmp_path / "exports" / "digits")).signatures["serving_default"]
    from_saved_model = serving(pixels=tf.constant(x_test))["output_0"].numpy()

    export_model(run, tmp_path / "digits.tflite", format="tflite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TensorFlow points to LiteRT, its interpreter's successor.
        interpreter = tf.lite.Interpreter(model_path=str(tmp_path / "digits.tflite"))
    (pixels,), (output,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert pixels["dtype"] == np.uint8
    interpreter.resize_tensor_input(pixels["index"], x_test.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(pixels["index"], x_test)
    interpreter.invoke()
    from_tflite = interpreter.get_tensor(output["index"])

    for name, probabilities in (("SavedModel", from_saved_model), ("TFLite", from_tflite)):
        agreement = np.mean(probabilities.argmax(axis=1) == expected.argmax(axis=1))
        print(f"{name}: agrees with the Keras model on {agreement:.2%} of {len(x_test)} test images; largest probability difference {np.abs(probabilities - expected).max():.2e}")
        assert agreement >= EXPORT_AGREEMENT
