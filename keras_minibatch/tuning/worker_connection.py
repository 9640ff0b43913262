"""A worker's line to its chief: bounded waits, heartbeats, the chief's refusals as one-line errors.

KerasTuner's `OracleClient` waits an hour for a chief that is gone or not yet
started. `WorkerConnection` waits for the chief (at most `heartbeat_timeout`
seconds of silence), sends a heartbeat every `HEARTBEAT_SECONDS`, gives every
call to the chief that same deadline instead of an hour, and turns the chief's
answers into `ChiefLostError`, `WorkerRefusedError` or `SearchOverError`, all
KerasTuner `FatalError`s, so a search stops on them instead of failing trial
after trial. When the heartbeat finds the chief gone while the worker trains, it
interrupts the main thread (`KeyboardInterrupt`), which the worker
(`search_worker`) turns into the one line.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import keras_tuner

from keras_minibatch import compat
from keras_minibatch.training.termination import handle_stop_signal
from keras_minibatch.tuning.oracle_address import OracleAddress
from keras_minibatch.tuning.oracle_protocol import HEARTBEAT_KEY, HEARTBEAT_SECONDS, PREPARING, SEARCH_KEY, SESSION_KEY, TUNER_ID_KEY

__all__ = ["ChiefLostError", "SearchOverError", "WorkerConnection", "WorkerRefusedError"]

_POLL_SECONDS = 1.0  # How long a worker told to wait (`IDLE`) waits before it asks again.
_GRACE_SECONDS = 30.0  # How long a worker's main thread gets to stop after its chief is lost.
protos = compat.kerastuner_protos()


class ChiefLostError(keras_tuner.errors.FatalError):
    """The chief stopped answering (or never did) within the stated time."""


class WorkerRefusedError(keras_tuner.errors.FatalError):
    """The chief refused this worker: another search, a taken id, or a worker it gave up on."""


class SearchOverError(keras_tuner.errors.FatalError):
    """The chief says its search is over: there is nothing left to run."""


class WorkerConnection:
    """A worker's line to its chief: bounded waits, heartbeats, the chief's refusals as errors.

    Args:
        address: The chief's address and this worker's id.
        search_identity: `search_folder.search_identity` of this worker's search.
        heartbeat_timeout: Most seconds without an answer before the chief counts as lost.
    """

    def __init__(self, address: OracleAddress, *, search_identity: str, heartbeat_timeout: float):
        self.address = address
        self.heartbeat_timeout = heartbeat_timeout
        self._channel = grpc.insecure_channel(address.target)
        self._stub = protos.get_service_grpc().OracleStub(self._channel)
        self._metadata = ((TUNER_ID_KEY, address.tuner_id), (SESSION_KEY, uuid.uuid4().hex), (SEARCH_KEY, search_identity))
        self.lost: Exception | None = None  # why the heartbeat gave up, when it did
        self._closed = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def wait_for_chief(self, search_is_over: Callable[[], bool] = lambda: False) -> None:
        """Returns once the chief serves this search.

        Waits while nothing answers for at most `heartbeat_timeout` seconds, and
        for as long as the chief says it is still preparing its folder.

        Args:
            search_is_over: Asked while nothing answers: whether the folder shows
                this search finished with no chief on it, so waiting is pointless.

        Raises:
            ChiefLostError, WorkerRefusedError, SearchOverError.
        """
        deadline = time.monotonic() + self.heartbeat_timeout
        while True:
            try:
                self._call("GetSpace", protos.get_service().GetSpaceRequest(), timeout=HEARTBEAT_SECONDS, wait_for_ready=True, heartbeat=True)
                return
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.UNAVAILABLE and error.details() == PREPARING:
                    deadline = time.monotonic() + self.heartbeat_timeout  # the chief is alive
                elif error.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise self._error_for(error) from None
                elif search_is_over():
                    raise SearchOverError("the search is over: its folder holds the finished search and no chief runs on it") from None
                elif time.monotonic() > deadline:
                    raise ChiefLostError(
                        f"no chief answered at {self.address.target} within {self.heartbeat_timeout:g} s; start the chief "
                        "(KERASTUNER_TUNER_ID=chief, same KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT), then this worker"
                    ) from None
            time.sleep(0.5)

    def attach(self, tuner: Any) -> None:
        """Routes `tuner`'s calls to the chief through this connection and starts the heartbeat."""
        compat.route_oracle_client(tuner.oracle, _BoundedStub(self))
        self._heartbeat = threading.Thread(target=self._beat, name="keras-minibatch-heartbeat", daemon=True)
        self._heartbeat.start()

    def close(self) -> None:
        self._closed.set()
        self._channel.close()

    def _call(self, method: str, request: Any, *, timeout: float, wait_for_ready: bool, heartbeat: bool = False) -> Any:
        metadata = self._metadata + ((HEARTBEAT_KEY, "1"),) if heartbeat else self._metadata
        return getattr(self._stub, method)(request, timeout=timeout, wait_for_ready=wait_for_ready, metadata=metadata)

    def _error_for(self, error: grpc.RpcError) -> Exception:
        code, details = error.code(), error.details() or ""
        if code == grpc.StatusCode.OUT_OF_RANGE:
            return SearchOverError(details)
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return WorkerRefusedError(f"the chief at {self.address.target} refused this worker: {details}")
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
            return ChiefLostError(
                f"the chief at {self.address.target} stopped answering (no reply within {self.heartbeat_timeout:g} s); "
                "this worker stops. Restart the chief with --resume, then the workers"
            )
        return ChiefLostError(f"the chief at {self.address.target} failed to answer ({code.name}: {details}); this worker stops")

    def _beat(self) -> None:
        last_answer = time.monotonic()
        while not self._closed.wait(HEARTBEAT_SECONDS):
            try:
                self._call("GetSpace", protos.get_service().GetSpaceRequest(), timeout=HEARTBEAT_SECONDS, wait_for_ready=False, heartbeat=True)
                last_answer = time.monotonic()
            except grpc.RpcError as error:
                if self._closed.is_set():
                    return
                reason = self._error_for(error)
                if isinstance(reason, SearchOverError):
                    return  # this worker was told to stop and is on its way out
                if isinstance(reason, ChiefLostError) and time.monotonic() - last_answer <= self.heartbeat_timeout:
                    continue
                self._give_up(reason)
                return

    def _give_up(self, reason: Exception) -> None:
        """Stops the worker's main thread, wherever it is; exits the process if it does not stop."""
        self.lost = reason
        # As if SIGINT arrived, or, where SIGINT is ignored (a worker started by `nohup` or in a script's
        # background), SIGTERM through the command line's handler, which raises a KeyboardInterrupt too.
        if callable(signal.getsignal(signal.SIGINT)):
            _thread.interrupt_main(signal.SIGINT)
        elif signal.getsignal(signal.SIGTERM) is handle_stop_signal:
            _thread.interrupt_main(signal.SIGTERM)
        if not self._closed.wait(_GRACE_SECONDS):
            sys.stderr.write(f"keras-minibatch: error: {reason}\n")
            sys.stderr.flush()
            os._exit(1)


class _BoundedStub:
    """KerasTuner's `OracleStub` as `OracleClient` uses it, with our deadline, metadata and errors."""

    def __init__(self, connection: WorkerConnection):
        self._connection = connection

    def __getattr__(self, method: str) -> Callable[..., Any]:
        connection = self._connection

        def call(request: Any, **_upstream_options: Any) -> Any:  # KerasTuner passes wait_for_ready and its hour
            if connection.lost is not None:
                raise connection.lost
            try:
                response = connection._call(method, request, timeout=connection.heartbeat_timeout, wait_for_ready=True)
            except grpc.RpcError as error:
                raise connection._error_for(error) from None
            if method == "CreateTrial" and response.trial.status == protos.get_proto().TrialStatus.IDLE:
                time.sleep(_POLL_SECONDS)  # KerasTuner asks again at once; give the other trials time
            return response

        return call
