"""Folder claims: markers, what --overwrite may replace, OS locks, default folders, umask."""

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from keras_minibatch import prepare_run_dir
from keras_minibatch.run_folders import folder_claim
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.folder_checks import check_folder, folder_kind
from keras_minibatch.run_folders.folder_claim import FolderClaim, make_default_folder
from keras_minibatch.run_folders.locking import FolderLock, FolderLockedError
from keras_minibatch.run_folders.rundir import RunDirError


def make_run(folder: Path) -> Path:
    """A finished run folder as `train` leaves it (marker included)."""
    with FolderClaim(folder, run_files.RUN):
        (folder / "config.json").write_text('{"config": {}}')
        (folder / "model.keras").write_text("weights")
        (folder / "metrics.json").write_text("{}")
    return folder


def test_a_claimed_folder_is_marked_with_its_kind(tmp_path):
    make_run(tmp_path / "run")
    marker = json.loads((tmp_path / "run" / run_files.MARKER_FILE).read_text())
    assert marker["kind"] == "run" and marker["made_by"].startswith("keras-minibatch ")
    assert folder_kind(tmp_path / "run") == "run"


@pytest.mark.parametrize(("kind", "signature"), list(run_files.SIGNATURE_BY_KIND.items()))
def test_folders_made_before_markers_are_recognised(tmp_path, kind, signature):
    (tmp_path / signature).write_text("{}")
    assert folder_kind(tmp_path) == kind


def test_overwrite_replaces_a_run_only_after_clear_previous(tmp_path):
    run = make_run(tmp_path / "run")
    with FolderClaim(run, run_files.RUN, overwrite=True) as claim:
        assert (run / "model.keras").read_text() == "weights"  # nothing deleted before the new run's checks
        claim.clear_previous()
        assert sorted(os.listdir(run)) == sorted([run_files.LOCK_FILE, run_files.MARKER_FILE])


def test_a_failed_overwrite_keeps_the_previous_run(tmp_path):
    run = make_run(tmp_path / "run")
    with pytest.raises(ValueError, match="bad data"):
        with FolderClaim(run, run_files.RUN, overwrite=True):
            raise ValueError("bad data")
    assert (run / "model.keras").read_text() == "weights"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_of_someone_elses_files_is_never_taken_or_offered_for_overwrite(tmp_path, overwrite):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match=r"holds files keras-minibatch did not write \(notes.txt\)") as caught:
        check_folder(tmp_path, run_files.RUN, overwrite=overwrite)
    assert "pass --overwrite" not in str(caught.value)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_overwrite_refuses_a_run_with_the_users_files_beside_it(tmp_path):
    run = make_run(tmp_path / "run")
    (run / "my_notes.md").write_text("mine")
    with pytest.raises(RunDirError, match=r"files keras-minibatch did not write \(my_notes.md\)"):
        prepare_run_dir(run, overwrite=True)
    assert (run / "my_notes.md").is_file() and (run / "model.keras").is_file()


def test_overwrite_refuses_a_folder_of_another_kind(tmp_path):
    (tmp_path / "search_config.json").write_text("{}")
    with pytest.raises(RunDirError, match="holds a search, not a run"):
        check_folder(tmp_path, run_files.RUN, overwrite=True)


@pytest.mark.parametrize("where", ["cwd", "parent_of_cwd", "symlink"])
def test_overwrite_refuses_the_current_folder_its_parents_and_symlinks(tmp_path, monkeypatch, where):
    run = make_run(tmp_path / "run")
    inner = run / "checkpoint"
    inner.mkdir()
    link = tmp_path / "link"
    link.symlink_to(run)
    monkeypatch.chdir(run if where == "cwd" else inner)
    target = {"cwd": Path("."), "parent_of_cwd": run, "symlink": link}[where]
    expected = {"cwd": "is the current folder", "parent_of_cwd": "holds the current folder", "symlink": "is a symbolic link"}[where]
    with pytest.raises(RunDirError, match=expected):
        prepare_run_dir(target, overwrite=True)
    assert (run / "model.keras").is_file()


def test_resume_of_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(RunDirError, match="does not exist, so there is no search to resume"):
        check_folder(tmp_path / "missing", run_files.SEARCH, resume=True)


def test_a_finished_run_is_not_offered_for_resume(tmp_path):
    run = make_run(tmp_path / "run")
    with pytest.raises(RunDirError, match="already holds a finished run; pass --overwrite") as caught:
        check_folder(run, run_files.RUN)
    assert "--resume" not in str(caught.value)


def test_a_failed_fresh_claim_leaves_no_marker(tmp_path):
    with pytest.raises(ValueError):
        with FolderClaim(tmp_path / "new", run_files.RUN):
            raise ValueError("bad flags")
    assert os.listdir(tmp_path / "new") == [run_files.LOCK_FILE]


def test_a_live_lock_holder_is_named_and_a_dead_ones_lock_is_free(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from keras_minibatch.run_folders.locking import FolderLock; "
         "lock = FolderLock(sys.argv[1]); lock.acquire(); print('held', flush=True); time.sleep(60)", str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError, match=f"in use by process {holder.pid}"):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    with FolderLock(tmp_path):  # the kernel released the dead holder's lock
        assert (tmp_path / run_files.LOCK_FILE).read_text().strip() == str(os.getpid())
    assert (tmp_path / run_files.LOCK_FILE).exists()  # never deleted: a replaced lock file could be locked twice


@pytest.mark.parametrize("content", ["", "garbage", str(2**80), "99999999"])
def test_what_a_lock_file_holds_does_not_decide_the_lock(tmp_path, content):
    (tmp_path / run_files.LOCK_FILE).write_text(content)
    with FolderLock(tmp_path) as lock:
        assert lock.held
        with pytest.raises(FolderLockedError, match="in use by process"):
            FolderLock(tmp_path).acquire()


def test_an_unparsable_lock_file_is_reported_without_a_pid(tmp_path):
    with FolderLock(tmp_path):
        (tmp_path / run_files.LOCK_FILE).write_text("garbage")
        with pytest.raises(FolderLockedError, match="in use by another process"):
            FolderLock(tmp_path).acquire()


def test_default_folders_started_at_once_are_all_distinct(tmp_path):
    made: list[Path] = []
    threads = [threading.Thread(target=lambda: made.append(make_default_folder("digits", root=tmp_path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8 and all(path.is_dir() for path in made)


def test_an_unused_default_folder_is_removed_and_a_used_one_kept(tmp_path):
    unused, used = make_default_folder("a", root=tmp_path), make_default_folder("b", root=tmp_path)
    (unused / run_files.LOCK_FILE).write_text("1")
    (used / "config.json").write_text("{}")
    folder_claim.remove_if_unused(unused)
    folder_claim.remove_if_unused(used)
    assert not unused.exists() and used.is_dir()


def test_files_written_atomically_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        rundir.write_text_atomic(tmp_path / "a.txt", "x")
        make_run(tmp_path / "run")
    finally:
        os.umask(old)
    for path in (tmp_path / "a.txt", tmp_path / "run" / run_files.MARKER_FILE, tmp_path / "run" / run_files.LOCK_FILE):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


def test_every_file_name_the_library_writes_is_known_to_the_claim():
    from keras_minibatch.batch_sizes import report as compare_report
    from keras_minibatch.tuning import seed_variance
    from keras_minibatch.tuning import strategy_comparison
    from keras_minibatch.training import run as training
    from keras_minibatch.training import saved_run
    from keras_minibatch.tuning import trial_table
    from keras_minibatch.tuning import winner

    run_names = {saved_run.MODEL_FILE, saved_run.CONFIG_FILE, saved_run.HISTORY_CSV, saved_run.HISTORY_JSON, saved_run.METRICS_FILE,
                 training.EPOCH_LOG_FILE, training.TENSORBOARD_DIR, saved_run.LEARNING_CURVES_PLOT, saved_run.CONFUSION_MATRIX_PLOT,
                 training.CHECKPOINT_DIR}
    search_names = {trial_table.TRIALS_JSON, trial_table.TRIALS_CSV, winner.BEST_HYPERPARAMETERS_FILE, seed_variance.SEED_VARIANCE_FILE}
    comparison_names = {strategy_comparison.COMPARISON_CSV, strategy_comparison.COMPARISON_JSON, strategy_comparison.COMPARISON_PLOT}
    batch_names = {compare_report.COMPARISON_CSV, compare_report.CURVES_CSV, compare_report.COMPARISON_JSON, *compare_report.PLOTS}
    assert run_names <= run_files.NAMES_BY_KIND[run_files.RUN]
    assert search_names <= run_files.NAMES_BY_KIND[run_files.SEARCH]
    assert comparison_names <= run_files.NAMES_BY_KIND[run_files.STRATEGY_COMPARISON]
    assert batch_names <= run_files.NAMES_BY_KIND[run_files.BATCH_SIZE_COMPARISON]
