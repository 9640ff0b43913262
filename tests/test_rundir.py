import datetime
import errno
import json
import os

import pytest

from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.folder_checks import check_folder


def test_default_run_dir_is_fresh_and_timestamped(tmp_path):
    now = datetime.datetime(2026, 11, 28, 9, 30, 0)
    first = rundir.default_run_dir("digits", root=tmp_path, now=now)
    assert first.name == "20261128-093000-digits"
    first.mkdir()
    second = rundir.default_run_dir("digits", root=tmp_path, now=now)
    assert second.name == "20261128-093000-digits-2"


def test_default_run_dir_slugs_a_path_source(tmp_path):
    path = rundir.default_run_dir("../shared/data/mnist-t10k", root=tmp_path)
    assert path.name.endswith("-mnist-t10k")


def test_a_file_is_not_a_run_folder(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(rundir.RunDirError, match="is a file"):
        check_folder(target, run_files.RUN)


def test_json_is_strict_and_nan_becomes_null(tmp_path):
    path = tmp_path / "metrics.json"
    rundir.write_json_atomic(path, {"loss": float("nan"), "accuracy": 0.5})
    assert json.loads(path.read_text()) == {"loss": None, "accuracy": 0.5}


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    rundir.write_json_atomic(path, {"version": 1})

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(rundir.RunDirError, match="disk is full"):
        rundir.write_json_atomic(path, {"version": 2})
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(rundir.RunDirError, match="does not exist"):
        rundir.write_text_atomic(tmp_path / "missing" / "x.txt", "x")


def test_history_csv_has_epoch_column(tmp_path):
    path = tmp_path / "history.csv"
    rundir.write_history_csv_atomic(path, {"loss": [0.5, 0.25], "val_loss": [0.6, 0.3]})
    assert path.read_text().splitlines() == ["epoch,loss,val_loss", "1,0.5,0.6", "2,0.25,0.3"]
