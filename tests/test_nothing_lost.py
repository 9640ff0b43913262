"""Nothing of the user's is deleted or mixed up, through the real CLI: overwrite targets, live
locks, concurrent starts, resume and evaluate from other folders, full and read-only disks."""

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration

TINY = ("--hidden_units=16", "--max_train_samples=300")


def run_cli(*args, cwd=None, timeout=300, umask=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "keras_minibatch", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
        # `umask=`, not a preexec_fn: a Python-level fork hook in a test process that has loaded
        # gRPC (the distributed-search tests do) can abort the child before it starts.
        umask=-1 if umask is None else umask,
    )


def assert_one_clean_line(result, exit_code, *needles):
    assert result.returncode == exit_code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-minibatch: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def write_digits_npz(path: Path, *, shift_labels: int = 0) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * 255 / 16).astype(np.uint8)
    y = (digits.target + shift_labels) % 10
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=x[:1400], y_train=y[:1400], x_test=x[1400:], y_test=y[1400:])
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file() and path.name != ".lock"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 2-epoch run trained from folder A on A's data.npz (relative path), under umask 027."""
    root = tmp_path_factory.mktemp("nothing_lost")
    write_digits_npz(root / "A" / "data.npz")
    result = run_cli("train", "--dataset=data.npz", "--epochs=2", *TINY, f"--workdir={root / 'run'}", cwd=root / "A", umask=0o027)
    assert result.returncode == 0, result.stderr
    return root


@pytest.mark.parametrize("command", [("train",), ("tune", "--max_trials=1"), ("tune", "--compare", "--max_trials=1"), ("compare",)])
@pytest.mark.parametrize("target", [".", "notes"])
@pytest.mark.parametrize("overwrite", [True, False])
def test_a_folder_of_the_users_files_is_never_deleted(tmp_path, command, target, overwrite):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    (tmp_path / "paper.tex").write_text("mine")
    before = snapshot(tmp_path)
    result = run_cli(*command, "--dataset=digits", f"--workdir={target}", *(["--overwrite"] if overwrite else []), cwd=tmp_path)
    line = assert_one_clean_line(result, 1, repr(target))
    assert "pass --overwrite" not in line
    assert snapshot(tmp_path) == before


def test_overwrite_of_a_symlinked_run_folder_is_refused(finished_run, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(finished_run / "run")
    before = snapshot(finished_run / "run")
    assert_one_clean_line(run_cli("train", "--dataset=digits", f"--workdir={link}", "--overwrite"), 1, "symbolic link")
    assert snapshot(finished_run / "run") == before


def test_overwrite_with_bad_data_keeps_the_previous_run(finished_run, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.zeros((10, 8, 8), np.uint8))  # no labels, no test split
    before = snapshot(finished_run / "run")
    result = run_cli("train", f"--dataset={bad}", "--epochs=1", f"--workdir={finished_run / 'run'}", "--overwrite")
    assert_one_clean_line(result, 2, "y_train")
    assert snapshot(finished_run / "run") == before


def test_run_files_follow_the_umask(finished_run):
    for name in ("model.keras", "config.json", "metrics.json", ".keras-minibatch.json", ".lock"):
        assert stat.S_IMODE((finished_run / "run" / name).stat().st_mode) == 0o640, name


def test_a_live_run_keeps_its_folder_against_overwrite(tmp_path):
    workdir = tmp_path / "live"
    first = subprocess.Popen(
        [sys.executable, "-m", "keras_minibatch", "train", "--dataset=digits", "--epochs=100000", *TINY, f"--workdir={workdir}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (workdir / "checkpoint" / "state.json").exists():
            assert time.monotonic() < deadline and first.poll() is None, "the first run did not start"
            time.sleep(0.2)
        for command in (("train", "--overwrite"), ("train", "--resume")):
            result = run_cli(command[0], "--dataset=digits", "--epochs=100000", *TINY, f"--workdir={workdir}", command[1])
            assert_one_clean_line(result, 1, f"in use by process {first.pid}")
        assert first.poll() is None  # still training, in its own folder
        assert (workdir / "config.json").is_file()
    finally:
        first.kill()
        first.wait()


def test_runs_started_together_without_workdir_each_get_a_folder(tmp_path):
    args = [sys.executable, "-m", "keras_minibatch", "train", "--dataset=digits", "--epochs=1", *TINY]
    processes = [subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], [err for _, err in outputs]
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 3 and all((folder / "model.keras").is_file() for folder in folders)


@pytest.fixture
def unfinished_run(finished_run, tmp_path):
    """A copy of the finished run as a process killed after epoch 2 leaves it (no metrics.json)."""
    run = tmp_path / "run"
    shutil.copytree(finished_run / "run", run)
    (run / "metrics.json").unlink()
    (run / "model.keras").unlink()
    return run


def test_resume_from_another_folder_refuses_that_folders_data(finished_run, unfinished_run, tmp_path):
    write_digits_npz(tmp_path / "B" / "data.npz", shift_labels=1)
    result = run_cli("train", "--dataset=data.npz", "--epochs=3", *TINY, f"--workdir={unfinished_run}", "--resume", cwd=tmp_path / "B")
    assert_one_clean_line(result, 1, str(finished_run / "A" / "data.npz"), str(tmp_path / "B" / "data.npz"))


def test_resume_refuses_the_same_path_holding_other_data(finished_run, unfinished_run, tmp_path):
    config = json.loads((unfinished_run / "config.json").read_text())
    changed = Path(config["config"]["dataset"])
    original = changed.read_bytes()
    try:
        write_digits_npz(changed, shift_labels=3)
        result = run_cli("train", f"--dataset={changed}", "--epochs=3", *TINY, f"--workdir={unfinished_run}", "--resume")
        assert_one_clean_line(result, 1, "does not hold the data the run", "sha256")
    finally:
        changed.write_bytes(original)


def test_resume_refuses_fewer_epochs_than_done_and_grows_the_run_truthfully(finished_run, unfinished_run):
    data = f"--dataset={finished_run / 'A' / 'data.npz'}"
    fewer = run_cli("train", data, "--epochs=1", *TINY, f"--workdir={unfinished_run}", "--resume")
    assert_one_clean_line(fewer, 1, "--epochs=1 is fewer than the 2 epochs")
    grown = run_cli("train", data, "--epochs=3", *TINY, f"--workdir={unfinished_run}", "--resume", cwd=unfinished_run.parent)
    assert grown.returncode == 0, grown.stderr
    config = json.loads((unfinished_run / "config.json").read_text())
    metrics = json.loads((unfinished_run / "metrics.json").read_text())
    assert config["config"]["epochs"] == 3 and metrics["epochs_run"] == 3


def test_evaluate_from_another_folder_scores_the_runs_own_data_and_says_so(finished_run, tmp_path):
    write_digits_npz(tmp_path / "data.npz", shift_labels=1)  # a different data.npz where evaluate runs
    own = run_cli("evaluate", f"--model={finished_run / 'run'}", cwd=tmp_path)
    assert own.returncode == 0, own.stderr
    assert f"data:  {finished_run / 'A' / 'data.npz'} (the run's own data)" in own.stdout
    other = run_cli("evaluate", f"--model={finished_run / 'run'}", "--dataset=data.npz", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert f"not the run's data: it trained on {finished_run / 'A' / 'data.npz'}" in other.stdout


def test_evaluate_refuses_the_runs_data_path_once_its_content_changed(finished_run):
    data = finished_run / "A" / "data.npz"
    original = data.read_bytes()
    try:
        write_digits_npz(data, shift_labels=5)
        result = run_cli("evaluate", f"--model={finished_run / 'run'}")
        assert_one_clean_line(result, 2, "no longer holds the test split")
    finally:
        data.write_bytes(original)


def remount(mount_point: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount_point)], check=True)


def test_a_full_disk_stops_with_one_line_keeps_the_checkpoint_and_resume_finishes(small_disk):
    disk = small_disk("1m")
    workdir = disk / "run"
    args = ("train", "--dataset=digits", "--epochs=3", f"--workdir={workdir}")
    result = run_cli(*args)  # the default model's checkpoint (~0.6 MB) fits once, not twice
    assert_one_clean_line(result, 1, "the disk is full", str(workdir / "checkpoint"))
    state = json.loads((workdir / "checkpoint" / "state.json").read_text())
    assert state["epochs_done"] == 1 and (workdir / "checkpoint" / state["weights"]).is_file()
    remount(disk, "size=32m")
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((workdir / "metrics.json").read_text())["epochs_run"] == 3


def test_a_read_only_run_folder_is_one_line_for_resume_and_overwrite(small_disk):
    disk = small_disk("1m")
    workdir = disk / "run"
    assert run_cli("train", "--dataset=digits", "--epochs=1", *TINY, f"--workdir={workdir}").returncode == 0
    (workdir / "metrics.json").unlink()  # unfinished, so resumable
    before = snapshot(workdir)
    remount(disk, "ro")
    for flag in ("--resume", "--overwrite"):
        result = run_cli("train", "--dataset=digits", "--epochs=2", *TINY, f"--workdir={workdir}", flag)
        assert_one_clean_line(result, 1, "Read-only file system")
    assert snapshot(workdir) == before


def test_a_full_disk_stops_a_search_and_resume_reruns_the_unfinished_trial(small_disk):
    disk = small_disk("400k")  # two trials' files fit, the third trial's checkpoint does not
    workdir = disk / "search"
    args = ("tune", "--dataset=digits", "--max_trials=3", "--epochs=2", "--hidden_units=16", f"--workdir={workdir}")
    result = run_cli(*args)
    assert_one_clean_line(result, 1, "the disk is full", str(workdir))
    remount(disk, "size=32m")
    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    trials = json.loads((workdir / "trials.json").read_text())
    assert [trial["status"] for trial in trials] == ["COMPLETED"] * 3  # none lost as "failed"
