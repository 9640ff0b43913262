"""Starting TensorBoard in the background for tests: a free port, waiting until it answers, stopping it.

The `tensorboard` command serves in the foreground (`keras_minibatch.dashboard.server.serve`);
tests need a server they can query and stop, optionally one that has read every
event file before it answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from keras_minibatch.dashboard.server import DEFAULT_HOST, server_url, stop_tensorboard, tensorboard_command, tensorboard_env

# TensorBoard flags: read every event file before serving, and never again (finished runs).
LOAD_ONCE_FLAGS = ["--reload_interval=0", "--reload_task=blocking"]
_PORT_RETRIES = 3  # A port found free can be taken before TensorBoard binds it.
_POLL_SECONDS = 0.25
# Never through a proxy: the server is on this machine.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TensorBoardError(RuntimeError):
    """TensorBoard did not start or did not answer; the message holds its last output."""


def free_port(host: str = DEFAULT_HOST) -> int:
    """Returns a TCP port on `host` that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url + "data/runs", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(log: IO[bytes], num_lines: int = 15) -> str:
    try:
        log.flush()
        log.seek(0)
        text = log.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):  # Write-only or unseekable: the caller has the output.
        return f"(see {getattr(log, 'name', 'the log file')})"
    return "\n".join(text.splitlines()[-num_lines:])


def start_tensorboard(
    logdir: str | os.PathLike,
    *,
    port: int = 0,
    host: str = DEFAULT_HOST,
    timeout: float = 60,
    load_once: bool = False,
    log_file: IO[bytes] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Starts TensorBoard over `logdir` on a loopback port and waits until it answers HTTP.

    The caller owns the process: stop it with `terminate()` (or use `running_tensorboard`).

    Args:
        logdir: Folder searched recursively for event files; must exist.
        port: TCP port; 0 picks a free one. Defaults to `0`.
        host: Loopback address. Defaults to `"127.0.0.1"`.
        timeout: Seconds to wait for the first HTTP answer. Defaults to `60`.
        load_once: Whether TensorBoard reads all of `logdir` before it answers, and
            never again (`LOAD_ONCE_FLAGS`). Defaults to `False`.
        log_file: Binary file receiving TensorBoard's output (open it `"w+b"` to have
            its end quoted in errors); defaults to a temporary file, quoted when
            start-up fails and closed on return.

    Returns:
        `(process, url)`, the url like `"http://127.0.0.1:40123/"`.

    Raises:
        ValueError: for a missing `logdir`, a non-loopback `host`, a bad `port` or `timeout`.
        TensorBoardError: when TensorBoard exits or stays silent for `timeout` seconds.
    """
    if not Path(logdir).is_dir():
        raise ValueError(f"`logdir` ({str(logdir)!r}) is not a folder; pass a run folder or a folder of runs.")
    tensorboard_command(logdir, port=port, host=host)  # Refuses a non-loopback host or a bad port.
    if not timeout > 0:
        raise ValueError(f"`timeout` ({timeout!r}) must be a positive number of seconds.")
    env = tensorboard_env()
    deadline = time.monotonic() + timeout
    # Our handle on a temporary log is closed on return; the child keeps writing to its own.
    with contextlib.nullcontext(log_file) if log_file is not None else tempfile.TemporaryFile() as log:
        for _ in range(_PORT_RETRIES if port == 0 else 1):
            chosen = port or free_port(host)
            url = server_url(host, chosen)
            process = subprocess.Popen(
                tensorboard_command(logdir, port=chosen, host=host) + (LOAD_ONCE_FLAGS if load_once else []),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            )
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(url):
                    return process, url
                time.sleep(_POLL_SECONDS)
            if process.poll() is None:  # Still running but silent.
                stop_tensorboard(process)
                raise TensorBoardError(f"TensorBoard did not answer on {url} within {timeout} s. Its output:\n{_tail(log)}")
            if port or "could not bind" not in _tail(log).lower():
                break
        raise TensorBoardError(f"TensorBoard exited with code {process.returncode} before serving {url}. Its output:\n{_tail(log)}")


@contextlib.contextmanager
def running_tensorboard(logdir: str | os.PathLike, **kwargs: Any):
    """`start_tensorboard` as a context manager: yields the url, stops TensorBoard on exit."""
    process, url = start_tensorboard(logdir, **kwargs)
    try:
        yield url
    finally:
        stop_tensorboard(process)
