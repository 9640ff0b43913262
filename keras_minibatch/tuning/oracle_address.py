"""Where a distributed search's chief listens, read and checked before TensorFlow loads.

KerasTuner's chief/worker mode is switched on by three environment variables:
`KERASTUNER_TUNER_ID` (a process whose id contains `chief` is the chief, as
KerasTuner decides; every other one is a worker), `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT`. `oracle_address` reads them all or none, and refuses
a half set, a port outside 1..65535, or a worker id that cannot name a file
(KerasTuner writes `tuner/<id>.json`). `check_port_free` tells a chief, before
anything else happens, that its port is taken or its address is not one of this
machine's. Standard library only.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import math
import socket
from collections.abc import Mapping
from typing import Any

from keras_minibatch.checks import ConfigError

__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT", "ENVIRONMENT", "MIN_HEARTBEAT_TIMEOUT", "OracleAddress", "OracleAddressError", "bind_refusal",
    "check_heartbeat_timeout", "check_port_free", "oracle_address",
]

# Seconds without a word after which a chief gives up on a worker and a worker on its chief.
DEFAULT_HEARTBEAT_TIMEOUT = 60.0
MIN_HEARTBEAT_TIMEOUT = 5.0  # five heartbeats (`oracle_protocol.HEARTBEAT_SECONDS`)
MAX_HEARTBEAT_TIMEOUT = 86400.0
ENVIRONMENT = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
_TUNER_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


class OracleAddressError(ValueError):
    """KerasTuner's distributed-mode variables are incomplete or unusable; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class OracleAddress:
    """This process's part in a distributed search and where its chief listens.

    Attributes:
        tuner_id: `KERASTUNER_TUNER_ID`.
        ip: `KERASTUNER_ORACLE_IP`, a host name or address.
        port: `KERASTUNER_ORACLE_PORT`.
    """

    tuner_id: str
    ip: str
    port: int

    @property
    def role(self) -> str:
        """`"chief"` when the id contains `chief` (KerasTuner's own rule), else `"worker"`."""
        return "chief" if "chief" in self.tuner_id else "worker"

    @property
    def target(self) -> str:
        """`host:port` as gRPC takes it (an IPv6 address in brackets)."""
        host = f"[{self.ip}]" if ":" in self.ip and not self.ip.startswith("[") else self.ip
        return f"{host}:{self.port}"


def oracle_address(environ: Mapping[str, str] = os.environ) -> OracleAddress | None:
    """Reads KerasTuner's distributed-mode variables.

    Returns:
        An `OracleAddress`, or `None` when none of the three is set (a local search).

    Raises:
        OracleAddressError: when only some are set, or one is malformed.
    """
    given = [name for name in ENVIRONMENT if environ.get(name)]
    if not given:
        return None
    if len(given) < len(ENVIRONMENT):
        missing = ", ".join(name for name in ENVIRONMENT if name not in given)
        raise OracleAddressError(f"{', '.join(given)} set without {missing}: a distributed search needs all three (or none for a local search)")
    tuner_id, ip, port = (environ[name] for name in ENVIRONMENT)
    if not _TUNER_ID.fullmatch(tuner_id):
        raise OracleAddressError(
            f"KERASTUNER_TUNER_ID={tuner_id!r} must be 1 to 64 letters, digits, '_', '-' or '.', not starting with '.' "
            "(`chief` for the chief, a name such as `tuner0` for each worker)"
        )
    if not port.isascii() or not port.isdecimal() or not 1 <= int(port) <= 65535:
        raise OracleAddressError(f"KERASTUNER_ORACLE_PORT={port} must be a port number from 1 to 65535")
    try:
        socket.getaddrinfo(ip.strip("[]"), int(port), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise OracleAddressError(f"KERASTUNER_ORACLE_IP={ip} is not an address or a host name this machine can resolve") from None
    return OracleAddress(tuner_id=tuner_id, ip=ip.strip("[]"), port=int(port))


def check_heartbeat_timeout(value: Any) -> float:
    """Returns `value` as seconds, or raises `ConfigError` naming `heartbeat_timeout`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not MIN_HEARTBEAT_TIMEOUT <= value <= MAX_HEARTBEAT_TIMEOUT:
        raise ConfigError("heartbeat_timeout", value, f"must be a number of seconds from {MIN_HEARTBEAT_TIMEOUT:g} to {MAX_HEARTBEAT_TIMEOUT:g}")
    return float(value)


def check_port_free(address: OracleAddress) -> None:
    """Refuses a chief's address that is taken, or not one of this machine's.

    Binds a plain socket the way gRPC does (`SO_REUSEADDR`, and no `SO_REUSEPORT`,
    so a port another process listens on is refused) and closes it at once. The
    chief's own bind (`chief_server.ChiefServer`) is exclusive as well, so a
    process that takes the port in between is refused there.

    Raises:
        OracleAddressError: naming the variable, the value and what to do.
    """
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(address.ip, address.port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(sockaddr)
    except socket.gaierror:
        raise OracleAddressError(f"KERASTUNER_ORACLE_IP={address.ip} is not an address or a host name this machine can resolve") from None
    except OSError as error:
        raise OracleAddressError(bind_refusal(address, error)) from None


def bind_refusal(address: OracleAddress, error: OSError) -> str:
    """The one line for a chief that cannot listen on `address` (`error` from `bind`)."""
    if error.errno == errno.EADDRINUSE:
        return (
            f"KERASTUNER_ORACLE_PORT={address.port} is taken on {address.ip} (another chief or program listens there); "
            "choose a free port for this search's chief and its workers"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return f"KERASTUNER_ORACLE_IP={address.ip} is not an address of this machine: the chief listens on its own address"
    if error.errno == errno.EACCES:
        return f"KERASTUNER_ORACLE_PORT={address.port} needs privileges to listen on; choose a port from 1024 to 65535"
    return f"the chief cannot listen on {address.target} (KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT): {error.strerror}"
