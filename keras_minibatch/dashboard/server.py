"""Serving run folders with TensorBoard on this machine only.

TensorBoard runs as a child process (`python -m tensorboard.main`) bound to a loopback
address: it has no authentication, so it is never exposed to the network (`--bind_all` is
never passed and non-loopback hosts are refused). TensorBoard 2.x itself makes no update or
version check; `--load_fast=false` keeps it one process on one port (the fast loader would
start a second server, a Rust binary on another port). Imports no TensorFlow: the
CLI can check its flags and start TensorBoard at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from keras_minibatch.cli.quiet import filter_chatter
from keras_minibatch.training.termination import Terminated

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6006
_PORT_RETRIES = 3  # A port found free can be taken before TensorBoard binds it.
_POLL_SECONDS = 0.25
# Never through a proxy: the server is on this machine.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TensorBoardError(RuntimeError):
    """TensorBoard did not start or did not answer; the message holds its last output."""


def _check_host(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"`host` ({host!r}) must be a loopback address such as 127.0.0.1, ::1 or localhost: "
            "TensorBoard has no authentication. To reach it from another machine, forward the "
            "port over SSH (ssh -L 6006:127.0.0.1:6006 HOST)."
        )


def _check_port(port: Any) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"`port` ({port!r}) must be an integer from 1 to 65535, or 0 for a free one.")


def tensorboard_command(logdir: str | os.PathLike, *, port: int, host: str = DEFAULT_HOST, load_once: bool = False) -> list[str]:
    """Returns the argv that serves `logdir` with TensorBoard on `host:port`, loopback only.

    Args:
        logdir: Folder searched recursively for event files (a run folder or a folder of them).
        port: TCP port; 0 lets TensorBoard pick one (it prints it).
        host: Loopback address to listen on. Defaults to `"127.0.0.1"`.
        load_once: Whether to read every event file before serving and never again
            (finished runs, tests); by default new events are picked up every 5 s
            and the first read runs while TensorBoard already answers. Defaults to `False`.

    Raises:
        ValueError: for a host that is not a loopback address or a port out of range.
    """
    _check_host(host)
    _check_port(port)
    command = [
        sys.executable, "-m", "tensorboard.main",
        f"--logdir={Path(logdir).resolve()}",
        f"--host={host.strip('[]')}",
        f"--port={port}",
        "--load_fast=false",
    ]
    if load_once:
        command += ["--reload_interval=0", "--reload_task=blocking"]
    return command


def free_port(host: str = DEFAULT_HOST) -> int:
    """Returns a TCP port on `host` that nothing listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return probe.getsockname()[1]


def _url(host: str, port: int) -> str:
    return f"http://[{host.strip('[]')}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _answers(url: str) -> bool:
    try:
        with _DIRECT.open(url + "data/runs", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _child_env() -> dict[str, str]:
    # TensorBoard imports TensorFlow: keep its C++ INFO lines down unless the user asked for them.
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}


def _tail(log: IO[bytes], num_lines: int = 15) -> str:
    try:
        log.flush()
        log.seek(0)
        text = log.read().decode("utf-8", errors="replace")
    except (OSError, ValueError):  # Write-only or unseekable: the caller has the output.
        return f"(see {getattr(log, 'name', 'the log file')})"
    return "\n".join(text.splitlines()[-num_lines:])


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
            never again (see `tensorboard_command`). Defaults to `False`.
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
    _check_host(host)
    _check_port(port)
    if not timeout > 0:
        raise ValueError(f"`timeout` ({timeout!r}) must be a positive number of seconds.")
    env = _child_env()
    deadline = time.monotonic() + timeout
    # Our handle on a temporary log is closed on return; the child keeps writing to its own.
    with contextlib.nullcontext(log_file) if log_file is not None else tempfile.TemporaryFile() as log:
        for _ in range(_PORT_RETRIES if port == 0 else 1):
            chosen = port or free_port(host)
            url = _url(host, chosen)
            process = subprocess.Popen(
                tensorboard_command(logdir, port=chosen, host=host, load_once=load_once),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            )
            while process.poll() is None and time.monotonic() < deadline:
                if _answers(url):
                    return process, url
                time.sleep(_POLL_SECONDS)
            if process.poll() is None:  # Still running but silent.
                _stop(process)
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
        _stop(process)


# prctl(2) option: the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1
EXIT_SIGTERM = 143  # 128 + SIGTERM, as shells report it.


class PortInUseError(RuntimeError):
    """The TensorBoard port is taken; the message names it and the way out."""


def serve(
    logdir: str | os.PathLike,
    *,
    port: int = DEFAULT_PORT,
    host: str = DEFAULT_HOST,
    print_fn: Callable[[str], Any] = print,
) -> int:
    """Serves `logdir` in the foreground until Ctrl-C; returns TensorBoard's exit code.

    TensorBoard's output (its URL, its errors) goes to `print_fn`, without TensorFlow's
    start-up INFO chatter unless `TF_CPP_MIN_LOG_LEVEL=0`. Ctrl-C stops it and returns 0.

    Args:
        logdir: Folder searched recursively for event files; must exist.
        port: TCP port; 0 lets TensorBoard pick a free one. Defaults to `6006`.
        host: Loopback address. Defaults to `"127.0.0.1"`.
        print_fn: Receives each output line. Defaults to `print`.

    Returns:
        TensorBoard's exit code; `0` after Ctrl-C, `143` after SIGTERM. The
        child never outlives this process (on Linux not even its SIGKILL).

    Raises:
        ValueError: for a missing `logdir`, a non-loopback `host` or a bad `port`.
        PortInUseError: when another program holds the port.
    """
    if not Path(logdir).is_dir():
        raise ValueError(f"`logdir` ({str(logdir)!r}) is not a folder; pass a run folder or a folder of runs.")
    command = tensorboard_command(logdir, port=port, host=host)
    check_port_free(host, port)
    print_fn(f"serving {logdir} on {_url(host, port) if port else host} (Ctrl-C stops)")
    env = _child_env()
    keep_chatter = env["TF_CPP_MIN_LOG_LEVEL"] == "0"
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, text=True, errors="replace", bufsize=1, preexec_fn=_die_with_parent,
    )
    try:
        with process.stdout:
            for line in process.stdout:
                line = line if keep_chatter else filter_chatter(line)
                if line.strip():
                    print_fn(line.rstrip("\n"))
        return process.wait()
    except KeyboardInterrupt as interrupt:
        if isinstance(interrupt, Terminated):
            _stop(process)  # SIGTERM reached this process only.
            return EXIT_SIGTERM
        # The terminal sent SIGINT to TensorBoard too; give it a moment to shut down cleanly.
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _stop(process)
        return 0
    finally:
        _stop(process)


def check_port_free(host: str, port: int) -> None:
    """Refuses a port another program listens on, before anything is started.

    Raises:
        PortInUseError: naming the address and the way out.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # As TensorBoard's server does: only a listener blocks.
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUseError(f"--port={port}: {_url(host, port)} cannot be served ({error.strerror}); pass another --port, or --port=0 for a free one") from error


def _die_with_parent() -> None:
    """In the child, before TensorBoard starts: ask Linux to SIGTERM it when its parent dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # Not Linux: Ctrl-C and SIGTERM still stop the child through `serve`.
