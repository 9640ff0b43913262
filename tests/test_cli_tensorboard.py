"""`keras-minibatch tensorboard`: loopback only, checked flags, Ctrl-C exits 0."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tensorboard_helpers import free_port

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
    port = free_port()
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


def _start_serving(tmp_path, port):
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_minibatch", "tensorboard", f"--workdir={tmp_path}", f"--port={port}"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    first_line = process.stdout.readline()
    assert first_line.startswith("serving "), first_line
    deadline = time.monotonic() + 60
    while not _children_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    children = _children_of(process.pid)
    assert children, "TensorBoard's child did not start"
    return process, children


def _children_of(pid):
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _gone(pid, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find TensorBoard's child")
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL])
def test_tensorboards_child_never_outlives_the_command(tmp_path, signal_number):
    process, children = _start_serving(tmp_path, free_port())
    try:
        process.send_signal(signal_number)
        process.communicate(timeout=30)
        assert process.returncode == (143 if signal_number == signal.SIGTERM else -signal.SIGKILL)
        assert all(_gone(child) for child in children)
    finally:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_port_in_use_is_one_line_before_serving(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "keras_minibatch", "tensorboard", f"--workdir={tmp_path}", f"--port={port}"],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "serving" not in result.stdout
    assert result.stderr.startswith(f"keras-minibatch: error: --port={port}: http://127.0.0.1:{port}/ cannot be served") and len(result.stderr.splitlines()) == 1
