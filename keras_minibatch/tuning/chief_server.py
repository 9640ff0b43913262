"""The chief's gRPC server: bound exclusively before the chief touches its folder, serving once it is ready.

KerasTuner's own server binds its port with `SO_REUSEPORT`, so two chiefs can
share one; `ChiefServer` binds `host:port` exclusively (`grpc.so_reuseport`
off) and serves the oracle through `chief_servicer.ChiefServicer`, which answers
"preparing" until `serve` hands it the oracle.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from keras_minibatch import compat
from keras_minibatch.tuning.chief_servicer import ChiefServicer
from keras_minibatch.tuning.oracle_address import OracleAddress, OracleAddressError, bind_refusal, check_port_free

__all__ = ["ChiefServer"]


class ChiefServer:
    """The chief's gRPC server: bound at once, serving the oracle once the folder is ready.

    Use it as a context manager around everything the chief does, so the port is
    held from before the folder is touched until the chief is done, and late
    workers hear "the search is over" while the winner is retrained.

    Args:
        address: Where to listen (`oracle_address.oracle_address()`).
        heartbeat_timeout: Seconds of silence after which the chief gives up on a worker.
        say: Receives one line per worker given up on.

    Raises:
        OracleAddressError: (on construction) when the port is taken or the
            address is not this machine's.
    """

    def __init__(self, address: OracleAddress, *, heartbeat_timeout: float, say: Callable[[str], Any] = print):
        check_port_free(address)  # one line for the usual cases, before gRPC logs its own
        self.address = address
        self.heartbeat_timeout = heartbeat_timeout
        self._servicer = ChiefServicer(heartbeat_timeout, say)
        # One handler thread, as KerasTuner's own server: calls on the oracle never overlap.
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
        compat.kerastuner_protos().get_service_grpc().add_OracleServicer_to_server(self._servicer, self._server)
        try:
            self._server.add_insecure_port(address.target)
        except RuntimeError:  # taken between the check and now
            raise OracleAddressError(bind_refusal(address, OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE)))) from None
        self._server.start()

    def serve(self, oracle: Any, search_identity: str) -> None:
        """Serves `oracle` until every trial has ended and every worker was told to stop."""
        servicer = self._servicer
        with servicer.lock:
            servicer.oracle, servicer.search_identity = oracle, search_identity
        while True:
            time.sleep(0.25)
            with servicer.lock:
                servicer.give_up_on_silent_workers()
                if servicer.all_done():
                    servicer.over = True
                    return

    def finish(self) -> None:
        """From now on every worker hears that the search is over."""
        with self._servicer.lock:
            self._servicer.over = True

    def close(self) -> None:
        self.finish()
        self._server.stop(grace=1).wait()

    def __enter__(self) -> "ChiefServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
