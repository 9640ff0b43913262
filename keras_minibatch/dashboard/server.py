"""Serving run folders with TensorBoard on this machine only: the `tensorboard` command.

TensorBoard runs as a child process (`python -m tensorboard.main`) bound to a loopback
address: it has no authentication, so it is never exposed to the network (`--bind_all` is
never passed and non-loopback hosts are refused). TensorBoard itself makes no update or
version check; `--load_fast=false` keeps it one process on one port (the fast loader would
start a second server, a Rust binary on another port). Imports no TensorFlow: the
CLI can check its flags and start TensorBoard at once.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_minibatch.quiet import filter_chatter
from keras_minibatch.training.termination import Terminated

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6006
# prctl(2) option: the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1
EXIT_SIGTERM = 143  # 128 + SIGTERM, as shells report it.


class PortInUseError(RuntimeError):
    """The TensorBoard port is taken; the message names it and the way out."""


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


def tensorboard_command(logdir: str | os.PathLike, *, port: int, host: str = DEFAULT_HOST) -> list[str]:
    """Returns the argv that serves `logdir` with TensorBoard on `host:port`, loopback only.

    TensorBoard picks up new events as they are written, and answers while it
    still reads the first ones.

    Args:
        logdir: Folder searched recursively for event files (a run folder or a folder of them).
        port: TCP port; 0 lets TensorBoard pick one (it prints it).
        host: Loopback address to listen on. Defaults to `"127.0.0.1"`.

    Raises:
        ValueError: for a host that is not a loopback address or a port out of range.
    """
    _check_host(host)
    _check_port(port)
    return [
        sys.executable, "-m", "tensorboard.main",
        f"--logdir={Path(logdir).resolve()}",
        f"--host={host.strip('[]')}",
        f"--port={port}",
        "--load_fast=false",
    ]


def server_url(host: str, port: int) -> str:
    """Returns the http URL of `host:port`, an IPv6 host in brackets."""
    return f"http://[{host.strip('[]')}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def tensorboard_env() -> dict[str, str]:
    """Returns the environment TensorBoard runs in: this one, TensorFlow's C++ INFO lines down.

    TensorBoard imports TensorFlow; `TF_CPP_MIN_LOG_LEVEL` set by the user is kept.
    """
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}


def stop_tensorboard(process: subprocess.Popen) -> None:
    """Stops a TensorBoard child: SIGTERM, then SIGKILL if it has not exited within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
    print_fn(f"serving {logdir} on {server_url(host, port) if port else host} (Ctrl-C stops)")
    env = tensorboard_env()
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
            stop_tensorboard(process)  # SIGTERM reached this process only.
            return EXIT_SIGTERM
        # The terminal sent SIGINT to TensorBoard too; give it a moment to shut down cleanly.
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            stop_tensorboard(process)
        return 0
    finally:
        stop_tensorboard(process)


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
            raise PortInUseError(f"--port={port}: {server_url(host, port)} cannot be served ({error.strerror}); pass another --port, or --port=0 for a free one") from error


def _die_with_parent() -> None:
    """In the child, before TensorBoard starts: ask Linux to SIGTERM it when its parent dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # Not Linux: Ctrl-C and SIGTERM still stop the child through `serve`.
