"""Shared pytest setup: absl flags usable without app.run, quiet TensorFlow, real-data paths."""

import os
import signal
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
from absl import flags

REPO_ROOT = Path(__file__).resolve().parents[1]
# Test this checkout, whatever an editable install points at: in this process and in
# the command lines the tests start (they inherit PYTHONPATH).
sys.path.insert(0, str(REPO_ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
MNIST_T10K = REPO_ROOT.parent / "shared" / "data" / "mnist-t10k"


def pytest_configure(config):
    # Library code reads no flags, but the CLI module defines them; tests that use
    # absl.testing.flagsaver need FLAGS to count as parsed.
    flags.FLAGS.mark_as_parsed()
    # Run in the background of a script (or under nohup) the suite inherits an ignored
    # SIGINT, which its command lines would keep: the Ctrl-C tests need Python's default.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def keras_traceback_filtering_as_by_default():
    """Keras' default, after every test: Keras' own test case (tests/test_early_stopping_upstream.py) turns it off for good."""
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.config.enable_traceback_filtering()


@pytest.fixture
def mnist_t10k_dir() -> Path:
    """The official MNIST test images shipped beside the repo (skips when absent)."""
    if not (MNIST_T10K / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST data not found at {MNIST_T10K}")
    return MNIST_T10K


@pytest.fixture
def run_cli(capsys):
    """Parses and runs the CLI in-process; returns (exit_code, stdout, stderr)."""
    from keras_minibatch.cli import main as cli

    def run(*args):
        flags.FLAGS.unparse_flags()
        with pytest.raises(SystemExit) as caught:
            remaining = cli._parse_flags(["keras-minibatch", *args])
            sys.exit(cli._main_with_clean_errors(remaining))
        out, err = capsys.readouterr()
        return caught.value.code, out, err

    yield run
    flags.FLAGS.unparse_flags()
    flags.FLAGS.mark_as_parsed()


@pytest.fixture
def small_disk(tmp_path):
    """Mounts a real tmpfs: `small_disk(size)` returns its folder; skipped where this user may not mount one."""
    import subprocess

    mounted = []

    def mount(size: str = "1m") -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)
