"""KerasTuner's chief/worker protocol, with an exclusive port, heartbeats and one-line refusals.

A distributed search is KerasTuner's own: the chief serves its oracle over gRPC
(KerasTuner's `OracleServicer`) and each worker's tuner talks to it through
KerasTuner's `OracleClient`. As shipped (KerasTuner 1.4.8, grpcio 1.85), that
protocol trusts every process: the chief binds its port with `SO_REUSEPORT`, so
two chiefs can share one; a worker killed mid-trial leaves the chief waiting for
that trial forever; a dead chief leaves its workers in a one-hour gRPC wait; two
workers with one id run the same trial; a worker started after the search ended
waits an hour. This module keeps the protocol and adds:

- `ChiefServer`: binds `host:port` exclusively (`grpc.so_reuseport` off) before
  the chief touches its folder, and answers "preparing" until the oracle is
  ready. It admits only workers that send their id, a per-process session token
  and the search's identity (`search_dir.search_identity`) with every call, and
  refuses a worker of another search, a second live worker with a taken id, and
  a worker it has given up on. A worker silent for `heartbeat_timeout` seconds
  loses its trial: it goes to the next worker that asks, or is marked failed if
  its worker had already gone silent once before on it. While another worker's
  trial may still need a second run, a worker asking for work is told to wait
  (KerasTuner's `IDLE`) rather than to stop. Once every trial has ended and
  every worker was told to stop, it answers every call with "the search is over".
- `WorkerConnection`: waits for the chief (at most `heartbeat_timeout` seconds of
  silence), sends a heartbeat every `HEARTBEAT_SECONDS`, gives every call to the
  chief that same deadline instead of an hour, and turns the chief's answers into
  `ChiefLostError`, `WorkerRefusedError` or `SearchOverError`, all KerasTuner
  `FatalError`s, so a search stops on them instead of failing trial after trial.
  When the heartbeat finds the chief gone while the worker trains, it interrupts
  the main thread (`KeyboardInterrupt`), which `tuning` turns into the one line.

Private KerasTuner pieces used here, and only here: `keras_tuner.src.distribute.
oracle_chief.OracleServicer` (the gRPC service), `keras_tuner.src.protos` (its
messages), `keras_tuner.src.engine.trial` (trial status and protos) and the
oracle's `_retry_queue` (where `Oracle.reload` also puts trials to run again).
KerasTuner has no public API for its distributed mode; checked with KerasTuner
1.4.8.
"""

from __future__ import annotations

import _thread
import collections
import contextlib
import dataclasses
import errno
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
import keras_tuner
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.engine import trial as trial_module

from keras_minibatch.tuning.oracle_address import OracleAddress, OracleAddressError, bind_refusal, check_port_free

__all__ = [
    "HEARTBEAT_SECONDS", "ChiefLostError", "ChiefServer", "SearchOverError", "WorkerConnection", "WorkerRefusedError",
]

HEARTBEAT_SECONDS = 1.0  # A worker's heartbeat interval; `heartbeat_timeout` is at least 5 of them.
_POLL_SECONDS = 1.0  # How long a worker told to wait (`IDLE`) waits before it asks again.
_GRACE_SECONDS = 30.0  # How long a worker's main thread gets to stop after its chief is lost.
# Metadata every worker call carries (gRPC metadata keys are lower-case ASCII).
_TUNER_ID, _SESSION, _SEARCH, _HEARTBEAT = "keras-minibatch-tuner-id", "keras-minibatch-session", "keras-minibatch-search", "keras-minibatch-heartbeat"
_PREPARING = "the chief is preparing the search folder"


class ChiefLostError(keras_tuner.errors.FatalError):
    """The chief stopped answering (or never did) within the stated time."""


class WorkerRefusedError(keras_tuner.errors.FatalError):
    """The chief refused this worker: another search, a taken id, or a worker it gave up on."""


class SearchOverError(keras_tuner.errors.FatalError):
    """The chief says its search is over: there is nothing left to run."""


@dataclasses.dataclass
class _Session:
    token: str
    last_seen: float
    gone: bool = False  # the chief gave up on this worker
    stopped: bool = False  # the worker was told to stop: its silence is expected


class _Servicer(oracle_chief.OracleServicer):
    """KerasTuner's `OracleServicer` behind an admission check, with dead-worker handling."""

    def __init__(self, heartbeat_timeout: float, say: Callable[[str], Any]):
        super().__init__(oracle=None)
        self.heartbeat_timeout = heartbeat_timeout
        self.say = say
        self.search_identity: str | None = None
        self.over = False
        self.lock = threading.Lock()  # every handler and the chief's watch loop hold it
        self.sessions: dict[str, _Session] = {}
        self.handed_again: collections.Counter[str] = collections.Counter()

    # -- admission ---------------------------------------------------------
    def _admit(self, context: grpc.ServicerContext, *, owned_trial: str | None = None) -> str:
        metadata = dict(context.invocation_metadata())
        tuner_id, token = metadata.get(_TUNER_ID), metadata.get(_SESSION)
        if not tuner_id or not token:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "this chief serves `keras-minibatch tune` workers only (they prove they run its search)")
        if self.over:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, "the search is over: every trial has ended")
        if self.oracle is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, _PREPARING)
        if metadata.get(_SEARCH) != self.search_identity:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                "this worker does not run the chief's search (its flags or data differ); start it with the chief's flags and data",
            )
        now = time.monotonic()
        session = self.sessions.get(tuner_id)
        if session is not None and session.token != token and not session.gone:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"KERASTUNER_TUNER_ID={tuner_id} is taken by another live worker (heard from {now - session.last_seen:.0f} s ago); "
                f"give every worker its own id (a stopped worker's id is free {self.heartbeat_timeout:g} s after it went silent)",
            )
        if session is not None and session.token == token and session.gone:
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"the chief gave up on this worker after {self.heartbeat_timeout:g} s without a word from it; its trial went to another worker",
            )
        if session is None or session.token != token:
            session = self.sessions[tuner_id] = _Session(token, now)
        session.last_seen = now
        if owned_trial is not None:
            ongoing = self.oracle.ongoing_trials.get(tuner_id)
            if ongoing is None or ongoing.trial_id != owned_trial:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"trial {_number(owned_trial)} is no longer this worker's (the chief restarted, or gave up on this worker)",
                )
        return tuner_id

    @contextlib.contextmanager
    def _handling(self):
        with self.lock:
            started = time.monotonic()
            try:
                yield
            finally:
                # Time the chief spent in one call (a Bayesian step, say) was time it could not
                # hear anyone: it does not count as the workers' silence.
                busy = time.monotonic() - started
                if busy > HEARTBEAT_SECONDS:
                    for session in self.sessions.values():
                        session.last_seen += busy

    # -- KerasTuner's calls ------------------------------------------------
    def GetSpace(self, request, context):
        with self._handling():
            self._admit(context)
            if dict(context.invocation_metadata()).get(_HEARTBEAT):
                return protos.get_service().GetSpaceResponse()
            return super().GetSpace(request, context)

    def UpdateSpace(self, request, context):
        with self._handling():
            self._admit(context)
            return super().UpdateSpace(request, context)

    def CreateTrial(self, request, context):
        with self._handling():
            tuner_id = self._admit(context)
            if request.tuner_id != tuner_id:
                context.abort(grpc.StatusCode.PERMISSION_DENIED, f"asked for a trial as {request.tuner_id!r} while calling as {tuner_id!r}")
            trial = self.oracle.create_trial(tuner_id)
            if trial.status == trial_module.TrialStatus.STOPPED:
                if any(other != tuner_id for other in self.oracle.ongoing_trials):
                    # Another worker's trial may yet need a second run: wait instead of stopping.
                    self.oracle.tuner_ids.add(tuner_id)
                    trial = trial_module.Trial(self.oracle.get_space(), status=trial_module.TrialStatus.IDLE)
                else:
                    self.stop_triggered = True
                    self.sessions[tuner_id].stopped = True
            return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request, context):
        with self._handling():
            self._admit(context, owned_trial=request.trial_id)
            return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):
        with self._handling():
            self._admit(context, owned_trial=request.trial.trial_id)
            return super().EndTrial(request, context)

    def GetTrial(self, request, context):
        with self._handling():
            self._admit(context)
            return super().GetTrial(request, context)

    def GetBestTrials(self, request, context):
        with self._handling():
            self._admit(context)
            return super().GetBestTrials(request, context)

    # -- the chief's watch -------------------------------------------------
    def give_up_on_silent_workers(self) -> None:
        """Takes the trial of every worker silent for `heartbeat_timeout` seconds; call with `lock` held."""
        now = time.monotonic()
        for tuner_id, session in self.sessions.items():
            if session.gone or session.stopped or now - session.last_seen <= self.heartbeat_timeout:
                continue
            session.gone = True
            self.oracle.tuner_ids.discard(tuner_id)
            trial = self.oracle.ongoing_trials.pop(tuner_id, None)
            silent = f"worker {tuner_id} has not answered for {self.heartbeat_timeout:g} s"
            if trial is None:
                self.say(f"chief: {silent}; it held no trial")
            elif self.handed_again[trial.trial_id] == 0:
                self.handed_again[trial.trial_id] += 1
                self.oracle._retry_queue.append(trial.trial_id)  # where `Oracle.reload` puts trials to run again
                self.oracle.save()
                self.say(f"chief: {silent}; its trial {_number(trial.trial_id)} goes to the next worker that asks")
            else:
                trial.status = trial_module.TrialStatus.FAILED
                trial.message = f"{silent} (the second worker lost on this trial)"
                self.oracle.end_trial(trial)
                self.say(f"chief: {silent}; its trial {_number(trial.trial_id)} lost a worker twice and is marked failed")

    def all_done(self) -> bool:
        return self.stop_triggered and not self.oracle.ongoing_trials and not self.oracle.tuner_ids


def _number(trial_id: str) -> str:
    return str(int(trial_id) + 1) if trial_id.isdecimal() else trial_id


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
        self._servicer = _Servicer(heartbeat_timeout, say)
        # One handler thread, as KerasTuner's own server: calls on the oracle never overlap.
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), options=[("grpc.so_reuseport", 0)])
        protos.get_service_grpc().add_OracleServicer_to_server(self._servicer, self._server)
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


class WorkerConnection:
    """A worker's line to its chief: bounded waits, heartbeats, the chief's refusals as errors.

    Args:
        address: The chief's address and this worker's id.
        search_identity: `search_dir.search_identity` of this worker's search.
        heartbeat_timeout: Most seconds without an answer before the chief counts as lost.
    """

    def __init__(self, address: OracleAddress, *, search_identity: str, heartbeat_timeout: float):
        self.address = address
        self.heartbeat_timeout = heartbeat_timeout
        self._channel = grpc.insecure_channel(address.target)
        self._stub = protos.get_service_grpc().OracleStub(self._channel)
        self._metadata = ((_TUNER_ID, address.tuner_id), (_SESSION, uuid.uuid4().hex), (_SEARCH, search_identity))
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
                if error.code() == grpc.StatusCode.UNAVAILABLE and error.details() == _PREPARING:
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
        tuner.oracle.stub = _BoundedStub(self)
        self._heartbeat = threading.Thread(target=self._beat, name="keras-minibatch-heartbeat", daemon=True)
        self._heartbeat.start()

    def close(self) -> None:
        self._closed.set()
        self._channel.close()

    def _call(self, method: str, request: Any, *, timeout: float, wait_for_ready: bool, heartbeat: bool = False) -> Any:
        metadata = self._metadata + ((_HEARTBEAT, "1"),) if heartbeat else self._metadata
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
        _thread.interrupt_main()
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
