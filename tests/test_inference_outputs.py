"""What predict and export write, and what they never replace: no model, no TensorFlow."""

import csv
import hashlib
import json
import os

import numpy as np
import pytest

from keras_minibatch import ConfigError
from keras_minibatch.inference import export_target
from keras_minibatch.inference.export_target import check_export_target, tflite_marker, write_saved_model_folder, write_tflite_file
from keras_minibatch.inference.output_folder import check_writable_folder
from keras_minibatch.inference.prediction import ImagePrediction, Predictions
from keras_minibatch.inference.prediction_files import check_output_file, columns, format_line, write_predictions
from keras_minibatch.run_folders.rundir import RunDirError


def predictions(count=2, classes=10):
    rows = []
    for index in range(count):
        probabilities = np.full(classes, 0.01, np.float32)
        probabilities[index % classes], probabilities[(index + 3) % classes] = 0.85, 0.07
        rows.append(ImagePrediction(path=f"digit {index}.png", probabilities=probabilities, inverted=index == 1))
    return Predictions(model="model.keras", num_classes=classes, rows=tuple(rows))


def test_a_line_names_the_path_class_probability_and_next_two_classes():
    first, second = predictions().rows
    assert format_line(first) == "digit 0.png: 0 (0.8500); next 3 (0.0700), 1 (0.0100)"
    assert format_line(second) == "digit 1.png: 1 (0.8500); next 4 (0.0700), 0 (0.0100); inverted"
    assert (first.predicted_class, first.probability, first.runners_up(1)) == (0, pytest.approx(0.85), [(3, pytest.approx(0.07))])


@pytest.mark.parametrize("name", ["out.csv", "out.json"])
def test_files_have_path_class_probability_then_a_column_per_class(tmp_path, name):
    result = predictions()
    write_predictions(tmp_path / "new" / name, result)
    if name.endswith(".csv"):
        with open(tmp_path / "new" / name, newline="") as stream:
            records = list(csv.DictReader(stream))
        header = list(records[0])
    else:
        records = json.loads((tmp_path / "new" / name).read_text())
        header = list(records[0])
    assert header == columns(10) == ["path", "class", "probability", *(f"probability_{i}" for i in range(10)), "inverted"]
    assert [record["path"] for record in records] == ["digit 0.png", "digit 1.png"]
    assert int(records[1]["class"]) == 1 and float(records[1]["probability_4"]) == pytest.approx(0.07)
    assert str(records[1]["inverted"]) in ("True", "true") and float(records[0]["probability"]) == pytest.approx(0.85)


def test_output_must_be_csv_or_json_in_a_writable_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"must name a \.csv or \.json file"):
        check_output_file(tmp_path / "out.txt")
    (tmp_path / "out.csv").mkdir()
    with pytest.raises(ConfigError, match=r"is a folder"):
        check_output_file(tmp_path / "out.csv")
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"is under '.*file', which is not a folder"):
        check_output_file(tmp_path / "file" / "deeper" / "out.csv")
    check_output_file(tmp_path / "new" / "deeper" / "out.json")  # made when written
    assert not (tmp_path / "new").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=r"cannot be written \(.*locked': permission denied\)"):
        check_writable_folder(tmp_path / "locked" / "sub", "output", "x")


def test_a_read_only_disk_is_refused_even_for_root(small_disk, tmp_path):
    import subprocess

    disk = small_disk("1m")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    with pytest.raises(ConfigError, match=r"cannot be written \(.*read-only"):
        check_output_file(disk / "out.csv")


def test_an_existing_predictions_file_is_replaced_only_when_asked_and_only_if_ours(tmp_path):
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    write_predictions(ours, predictions())
    theirs.write_text("name,grade\nada,1\n")
    with pytest.raises(RunDirError, match=r"already exists; pass --overwrite"):
        check_output_file(ours)
    check_output_file(ours, overwrite=True)
    with pytest.raises(RunDirError, match=r"not a predictions file keras-minibatch wrote"):
        check_output_file(theirs, overwrite=True)
    assert theirs.read_text() == "name,grade\nada,1\n"
    (tmp_path / "theirs.json").write_text('{"precious": true}')
    with pytest.raises(RunDirError, match=r"not a predictions file"):
        check_output_file(tmp_path / "theirs.json", overwrite=True)
    write_predictions(tmp_path / "ours.json", predictions())
    check_output_file(tmp_path / "ours.json", overwrite=True)


def fake_saved_model(folder):
    (folder / "variables").mkdir()
    (folder / "saved_model.pb").write_bytes(b"graph")


def test_saved_model_folders_are_written_whole_marked_and_replace_only_ours(tmp_path):
    target = tmp_path / "exports" / "digits"
    check_export_target(target, "saved_model")
    write_saved_model_folder(target, fake_saved_model, {"model": "m.keras"})
    marker = json.loads((target / ".keras-minibatch.json").read_text())
    assert marker["kind"] == "saved_model export" and marker["model"] == "m.keras"
    assert sorted(os.listdir(tmp_path / "exports")) == ["digits"]  # no staging folder left
    with pytest.raises(RunDirError, match=r"already exists; pass --overwrite"):
        check_export_target(target, "saved_model")
    check_export_target(target, "saved_model", overwrite=True)
    (target / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"not an export keras-minibatch wrote \(it also holds files keras-minibatch did not write \(notes\.txt\)\)"):
        check_export_target(target, "saved_model", overwrite=True)
    (target / "notes.txt").unlink()

    def failing(folder):
        fake_saved_model(folder)
        raise OSError(28, "No space left on device")

    with pytest.raises(RunDirError, match=r"the disk is full; the previous export, if any, is unchanged"):
        write_saved_model_folder(target, failing, {})
    assert (target / "saved_model.pb").read_bytes() == b"graph" and sorted(os.listdir(tmp_path / "exports")) == ["digits"]
    write_saved_model_folder(target, lambda folder: (folder / "saved_model.pb").write_bytes(b"new"), {})
    assert (target / "saved_model.pb").read_bytes() == b"new" and not (target / "variables").exists()
    assert sorted(os.listdir(tmp_path / "exports")) == ["digits"]


def test_saved_model_targets_not_ours_are_never_replaced(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "saved_model.pb").write_bytes(b"someone else's")
    with pytest.raises(RunDirError, match=r"it holds no keras-minibatch export marker"):
        check_export_target(tmp_path / "model", "saved_model", overwrite=True)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / ".keras-minibatch.json").write_text('{"kind": "run"}')
    (tmp_path / "run" / "model.keras").write_text("")
    with pytest.raises(RunDirError, match=r"it holds a run, not a SavedModel export"):
        check_export_target(tmp_path / "run", "saved_model", overwrite=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"is a file; a SavedModel is a folder"):
        check_export_target(tmp_path / "file", "saved_model")
    (tmp_path / "empty").mkdir()
    check_export_target(tmp_path / "empty", "saved_model")  # an empty folder is taken
    with pytest.raises(ConfigError, match=r"`format` \('onnx'\) must be one of: saved_model, tflite"):
        check_export_target(tmp_path / "x", "onnx")


def test_tflite_files_carry_their_hash_beside_them_and_a_changed_one_is_not_ours(tmp_path):
    target = tmp_path / "model.tflite"
    write_tflite_file(target, b"flatbuffer", {"model": "m.keras"})
    marker = json.loads(tflite_marker(target).read_text())
    assert tflite_marker(target).name == ".model.tflite.keras-minibatch.json"
    assert marker["kind"] == "tflite export" and marker["sha256"] == hashlib.sha256(b"flatbuffer").hexdigest()
    with pytest.raises(RunDirError, match=r"already exists"):
        check_export_target(target, "tflite")
    check_export_target(target, "tflite", overwrite=True)
    target.write_bytes(b"edited by hand")
    with pytest.raises(RunDirError, match=r"it was changed since keras-minibatch wrote it"):
        check_export_target(target, "tflite", overwrite=True)
    (tmp_path / "theirs.tflite").write_bytes(b"x")
    with pytest.raises(RunDirError, match=r"no keras-minibatch export marker \(\.theirs\.tflite\.keras-minibatch\.json\)"):
        check_export_target(tmp_path / "theirs.tflite", "tflite", overwrite=True)
    with pytest.raises(ConfigError, match=r"is a folder; a TFLite model is one file"):
        check_export_target(tmp_path, "tflite")
    os.symlink(target, tmp_path / "link.tflite")
    with pytest.raises(RunDirError, match=r"it is a symbolic link"):
        check_export_target(tmp_path / "link.tflite", "tflite", overwrite=True)
    assert export_target.FORMATS == ("saved_model", "tflite")
