"""`keras-minibatch predict` and `export` from the command line: bad input is one line before TensorFlow; a real run end to end."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

LINE = re.compile(r"^\S.*: \d+ \(\d\.\d{4}\); next \d+ \(\d\.\d{4}\), \d+ \(\d\.\d{4}\)(; inverted)?$")


@pytest.fixture
def files(tmp_path):
    """A stand-in model file (never loaded by these checks), an image, a plain file and a folder."""
    (tmp_path / "model.keras").write_bytes(b"not loaded before the checks pass")
    Image.new("L", (28, 28)).save(tmp_path / "digit.png")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "folder").mkdir()
    return {"model": str(tmp_path / "model.keras"), "digit": str(tmp_path / "digit.png"), "notes": str(tmp_path / "notes.txt"), "folder": str(tmp_path / "folder")}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["predict", "{digit}"], "--model is required for predict: a .keras file or a run folder"),
        (["predict", "--model={model}"], "predict needs at least one PATH: an image file (PNG, JPEG, BMP, GIF), a folder of them, or a .npy/.npz file"),
        (["predict", "--model={model}", "--invert=maybe", "{digit}"], "--invert=maybe must be one of: auto, true, false"),
        (["predict", "--model={model}", "{folder}/nope.png"], "PATH '{folder}/nope.png' does not exist; give an image file"),
        (["predict", "--model={folder}", "{digit}"], "--model '{folder}': no model file found"),
        (["predict", "--model={model}", "--output=out.txt", "{digit}"], "--output=out.txt must name a .csv or .json file"),
        (["predict", "--model={model}", "--output={notes}/out.csv", "{digit}"], "--output={notes}/out.csv is under '{notes}', which is not a folder"),
        (["predict", "--model={model}", "--output={folder}", "{digit}"], "--output={folder} must name a .csv or .json file"),
        (["predict", "--model={model}", "{folder}"], "PATH '{folder}' holds no images"),
        (["export", "--model={model}", "--output=x"], "--format is required for export: saved_model or tflite"),
        (["export", "--model={model}", "--format=onnx", "--output=x"], "--format=onnx must be one of: saved_model, tflite"),
        (["export", "--format=tflite", "--output=x"], "--model is required for export: a .keras file or a run folder"),
        (["export", "--model={model}", "--format=tflite"], "--output is required for export: the SavedModel folder or the .tflite file to write"),
        (["export", "--model={model}", "--format=tflite", "--output={folder}"], "--output={folder} is a folder; a TFLite model is one file"),
        (["export", "--model={model}", "--format=saved_model", "--output={digit}"], "--output={digit} is a file; a SavedModel is a folder"),
        (["export", "--model={model}", "--format=saved_model", "--output={notes}/sub/model"], "which is not a folder"),
        (["export", "--model={model}", "--format=tflite", "--output=m.tflite", "{digit}"], "unexpected arguments"),
        (["export", "--model={folder}/none.keras", "--format=tflite", "--output={folder}/m.tflite"], "no model file found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(run_cli, files, args, expected):
    code, out, err = run_cli(*(arg.format(**files) for arg in args))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("keras-minibatch: error: ") and "Traceback" not in err, err
    assert expected.format(**files) in err


def test_what_is_there_is_never_replaced_without_being_asked(run_cli, files, tmp_path):
    (tmp_path / "theirs.csv").write_text("name,grade\n")
    code, out, err = run_cli("predict", f"--model={files['model']}", f"--output={tmp_path / 'theirs.csv'}", files["digit"])
    assert code == 1 and out == "" and "already exists; pass --overwrite to replace it" in err and err.count("\n") == 1
    code, _, err = run_cli("predict", f"--model={files['model']}", f"--output={tmp_path / 'theirs.csv'}", "--overwrite", files["digit"])
    assert code == 1 and "is not a predictions file keras-minibatch wrote" in err
    code, _, err = run_cli("export", f"--model={files['model']}", "--format=saved_model", f"--output={tmp_path}", "--overwrite")
    assert code == 1 and "is not an export keras-minibatch wrote (it holds no keras-minibatch export marker)" in err
    assert (tmp_path / "theirs.csv").read_text() == "name,grade\n" and (tmp_path / "notes.txt").exists()


def test_help_names_the_commands_and_their_flags(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for word in ("keras-minibatch predict --model=", "keras-minibatch export --model=", "--invert", "--output", "--format"):
        assert word in out


def test_a_bad_flag_stops_predict_before_tensorflow_is_imported(files):
    probe = (
        "import sys\n"
        "from keras_minibatch.cli import main as cli\n"
        "try:\n"
        "    cli.run(['keras-minibatch', *sys.argv[1:]])\n"
        "finally:\n"
        "    print('tensorflow imported:', 'tensorflow' in sys.modules)\n"
    )
    for args in (["predict", f"--model={files['model']}", "--invert=sometimes", files["digit"]], ["export", f"--model={files['model']}", "--format=onnx", "--output=x"]):
        result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and result.stdout.strip() == "tensorflow imported: False", result.stderr
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def run(*args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    return subprocess.run([sys.executable, "-m", "keras_minibatch", *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture
def digits_model(tmp_path):
    import keras

    from keras_minibatch.training.model import build_mlp

    keras.utils.set_random_seed(0)
    build_mlp((8, 8), 10, hidden_units=(16,)).save(tmp_path / "digits.keras")
    return str(tmp_path / "digits.keras")


@pytest.mark.integration
def test_predict_prints_a_line_per_image_reports_unreadable_ones_and_writes_csv(tmp_path, digits_model):
    scans = tmp_path / "scans"
    scans.mkdir()
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(scans / "a.png")
    Image.new("RGB", (60, 80), "white").save(scans / "b.jpg")
    (scans / "c.png").write_bytes(b"broken")
    (scans / "readme.txt").write_text("")
    np.save(tmp_path / "more.npy", np.zeros((2, 8, 8), np.uint8))
    result = run("predict", f"--model={digits_model}", "--output=out/predictions.csv", "scans", "more.npy", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["scans/a.png", "scans/b.jpg", "more.npy[0]", "more.npy[1]"]
    assert all(LINE.match(line) for line in lines), lines  # nothing but the predictions on standard output
    assert result.stderr.splitlines() == [
        "note: skipped 1 entry of 'scans' that is not an image",
        "keras-minibatch: error: cannot read image 'scans/c.png': not an image Pillow can read",
        "note: 4 predictions written to out/predictions.csv",
    ]
    header, *rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert header.split(",")[:4] == ["path", "class", "probability", "probability_0"] and len(rows) == 4
    again = run("predict", f"--model={digits_model}", "--output=out/predictions.csv", "scans/a.png", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr
    replaced = run("predict", f"--model={digits_model}", "--output=out/predictions.csv", "--overwrite", "--invert=true", "scans/a.png", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stdout.endswith("; inverted\n") and len((tmp_path / "out" / "predictions.csv").read_text().splitlines()) == 2


@pytest.mark.integration
def test_a_model_not_of_images_is_one_line(tmp_path):
    import keras

    keras.Sequential([keras.Input((10,)), keras.layers.Dense(3, activation="softmax")]).save(tmp_path / "tabular.keras")
    Image.new("L", (8, 8)).save(tmp_path / "x.png")
    for args in (["predict", "--model=tabular.keras", "x.png"], ["export", "--model=tabular.keras", "--format=tflite", "--output=t.tflite"]):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.splitlines() == [
            "keras-minibatch: error: --model 'tabular.keras' takes input of shape (None, 10) and dtype float32, not images; "
            "predict and export need a model of one image input, (height, width) or (height, width, 1), and one output of class scores, as train makes"
        ]
    assert not (tmp_path / "t.tflite").exists()


@pytest.mark.integration
def test_export_says_what_the_artefact_takes_and_replaces_only_its_own(tmp_path, digits_model):
    saved = run("export", f"--model={digits_model}", "--format=saved_model", "--output=serving/digits/1", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.splitlines() == [
        f"model:  {digits_model}",
        "export: serving/digits/1 (SavedModel, signature serving_default)",
        "input:  pixels: uint8 (batch, 8, 8), raw pixels 0..255, light ink on a dark field",
        "output: output_0: float32 (batch, 10), class probabilities",
    ]
    assert json.loads((tmp_path / "serving/digits/1/.keras-minibatch.json").read_text())["kind"] == "saved_model export"
    refused = run("export", f"--model={digits_model}", "--format=saved_model", "--output=serving/digits/1", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "pass --overwrite" in refused.stderr
    tflite = run("export", f"--model={digits_model}", "--format=tflite", "--output=digits.tflite", "--overwrite", cwd=tmp_path)
    assert tflite.returncode == 0, tflite.stderr
    assert "export: digits.tflite (TFLite, signature serving_default)" in tflite.stdout and (tmp_path / "digits.tflite").stat().st_size > 1000
    replaced = run("export", f"--model={digits_model}", "--format=saved_model", "--output=serving/digits/1", "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0 and replaced.stderr == "", replaced.stderr
    assert sorted(os.listdir(tmp_path / "serving" / "digits")) == ["1"]
