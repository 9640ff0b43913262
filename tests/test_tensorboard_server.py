"""Starting TensorBoard: loopback only, a free port, waiting until it answers, stopping it."""

import json
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

from keras_minibatch.dashboard.server import tensorboard_command
from tensorboard_helpers import TensorBoardError, free_port, running_tensorboard, start_tensorboard

REPO_ROOT = Path(__file__).resolve().parents[1]
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def tensorboard_version():
    from tensorboard import version

    return version.VERSION


def get_json(url):
    with _DIRECT.open(url, timeout=5) as response:
        return json.loads(response.read())


def answers(url):
    try:
        get_json(url + "data/runs")
        return True
    except (urllib.error.URLError, OSError):
        return False


def test_command_serves_the_logdir_on_loopback_with_the_python_loader(tmp_path):
    command = tensorboard_command(tmp_path, port=6123)
    assert command[:3] == [sys.executable, "-m", "tensorboard.main"]
    assert command[3:] == [f"--logdir={tmp_path.resolve()}", "--host=127.0.0.1", "--port=6123", "--load_fast=false"]


@pytest.mark.parametrize(
    "host, flag",
    [("127.0.0.1", "127.0.0.1"), ("127.0.0.2", "127.0.0.2"), ("localhost", "localhost"), ("::1", "::1"), ("[::1]", "::1")],
)
def test_command_accepts_loopback_hosts(tmp_path, host, flag):
    assert f"--host={flag}" in tensorboard_command(tmp_path, port=6006, host=host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", ""])
def test_command_refuses_hosts_reachable_from_the_network(tmp_path, host):
    with pytest.raises(ValueError, match=r"must be a loopback address such as 127\.0\.0\.1.*no authentication"):
        tensorboard_command(tmp_path, port=6006, host=host)


@pytest.mark.parametrize("port", [-1, 65536, "6006", True, 6006.0])
def test_command_refuses_bad_ports(tmp_path, port):
    with pytest.raises(ValueError, match=r"`port` \(.*\) must be an integer from 1 to 65535, or 0"):
        tensorboard_command(tmp_path, port=port)


def test_free_port_can_be_bound():
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_start_refuses_a_missing_logdir(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        start_tensorboard(tmp_path / "missing")


def test_start_refuses_a_non_positive_timeout(tmp_path):
    with pytest.raises(ValueError, match=r"`timeout` \(0\) must be a positive number"):
        start_tensorboard(tmp_path, timeout=0)


def test_running_tensorboard_answers_on_loopback_and_stops_on_exit(tmp_path):
    (tmp_path / "run1").mkdir()
    with running_tensorboard(tmp_path, timeout=60) as url:
        assert url.startswith("http://127.0.0.1:")
        assert get_json(url + "data/runs") == []
        assert get_json(url + "data/logdir")["logdir"] == str(tmp_path.resolve())
    assert not answers(url)


def test_start_on_a_port_in_use_quotes_tensorboards_error(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(TensorBoardError, match=f"(?s)exited with code .*could not bind to port {port}"):
            start_tensorboard(tmp_path, port=port, timeout=60)


def test_serve_runs_until_ctrl_c_and_exits_cleanly(tmp_path):
    port = free_port()
    program = f"import sys; from keras_minibatch.dashboard.server import serve; sys.exit(serve({str(tmp_path)!r}, port={port}))"
    # A new session stands in for the terminal: Ctrl-C reaches serve and TensorBoard alike.
    process = subprocess.Popen(
        [sys.executable, "-c", program], cwd=REPO_ROOT, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while not answers(url) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.25)
        assert answers(url)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, output
    assert f"serving {tmp_path} on {url}" in output
    assert f"TensorBoard {tensorboard_version()} at {url}" in output
    assert "oneDNN" not in output and "absl::InitializeLog" not in output
    assert not answers(url)
