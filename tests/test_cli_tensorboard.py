"""`keras-minibatch tensorboard`: loopback only, checked flags, Ctrl-C exits 0."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from keras_minibatch import tensorboard_server

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--host=0.0.0.0"], "--host=0.0.0.0 must be a loopback address (127.0.0.1, ::1 or localhost)"),
        (["--host=192.168.1.5"], "--host=192.168.1.5 must be a loopback address"),
        (["--port=70000"], "--port"),
        (["--port=-1"], "--port"),
    ],
)
def test_tensorboard_flags_are_checked(run_cli, tmp_path, args, expected):
    code, out, err = run_cli("tensorboard", f"--workdir={tmp_path}", *args)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err


def test_tensorboard_needs_an_existing_folder(run_cli, tmp_path):
    code, _, err = run_cli("tensorboard", f"--workdir={tmp_path / 'missing'}")
    assert code == 2
    assert f"--workdir={tmp_path / 'missing'} is not a folder" in err


def test_tensorboard_serves_until_ctrl_c(tmp_path):
    port = tensorboard_server.free_port()
    url = f"http://127.0.0.1:{port}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def answers():
        try:
            with opener.open(url + "data/runs", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    process = subprocess.Popen(
        [sys.executable, "-m", "keras_minibatch", "tensorboard", f"--workdir={tmp_path}", f"--port={port}"],
        cwd=REPO_ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not answers() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.25)
        assert answers()
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, output
    assert f"at {url}" in output
