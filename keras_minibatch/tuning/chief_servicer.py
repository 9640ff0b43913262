"""The chief's gRPC servicer: KerasTuner's `OracleServicer` behind an admission check, with dead-worker handling.

`ChiefServer` (`chief_server`) serves the oracle through this servicer, which
answers "preparing" until the oracle is ready. It admits only workers that send
their id, a per-process session token and the search's identity
(`search_folder.search_identity`) with every call, and refuses a worker of
another search, a second live worker with a taken id, and a worker it has given
up on. A worker silent for `heartbeat_timeout` seconds loses its trial: it goes
to the next worker that asks, or is marked failed if its worker had already gone
silent once before on it. While another worker's trial may still need a second
run, a worker asking for work is told to wait (KerasTuner's `IDLE`) rather than
to stop. Once every trial has ended and every worker was told to stop, it
answers every call with "the search is over".
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
from keras_tuner.engine import trial as trial_module

from keras_minibatch import compat
from keras_minibatch.tuning.oracle_protocol import HEARTBEAT_KEY, HEARTBEAT_SECONDS, PREPARING, SEARCH_KEY, SESSION_KEY, TUNER_ID_KEY

__all__ = ["ChiefServicer"]

protos = compat.kerastuner_protos()


@dataclasses.dataclass
class _Session:
    token: str
    last_seen: float
    gone: bool = False  # the chief gave up on this worker
    stopped: bool = False  # the worker was told to stop: its silence is expected


class ChiefServicer(compat.oracle_servicer_base()):
    """KerasTuner's `OracleServicer` behind an admission check, with dead-worker handling.

    Args:
        heartbeat_timeout: Seconds of silence after which the chief gives up on a worker.
        say: Receives one line per worker given up on.
    """

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
        tuner_id, token = metadata.get(TUNER_ID_KEY), metadata.get(SESSION_KEY)
        if not tuner_id or not token:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "this chief serves `keras-minibatch tune` workers only (they prove they run its search)")
        if self.over:
            context.abort(grpc.StatusCode.OUT_OF_RANGE, "the search is over: every trial has ended")
        if self.oracle is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, PREPARING)
        if metadata.get(SEARCH_KEY) != self.search_identity:
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
            if dict(context.invocation_metadata()).get(HEARTBEAT_KEY):
                return protos.get_service().GetSpaceResponse()
            with compat.condition_proto_prints_hidden():  # the handlers below make hyperparameter protos
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
            with compat.condition_proto_prints_hidden():
                return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request, context):
        with self._handling():
            self._admit(context, owned_trial=request.trial_id)
            with compat.condition_proto_prints_hidden():
                return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):
        with self._handling():
            self._admit(context, owned_trial=request.trial.trial_id)
            return super().EndTrial(request, context)

    def GetTrial(self, request, context):
        with self._handling():
            self._admit(context)
            with compat.condition_proto_prints_hidden():
                return super().GetTrial(request, context)

    def GetBestTrials(self, request, context):
        with self._handling():
            self._admit(context)
            with compat.condition_proto_prints_hidden():
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
                compat.requeue_trial(self.oracle, trial.trial_id)
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
