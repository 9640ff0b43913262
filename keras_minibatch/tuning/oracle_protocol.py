"""KerasTuner's chief/worker protocol as keras-minibatch speaks it: what chief and workers agree on.

A distributed search is KerasTuner's own: the chief serves its oracle over gRPC
(KerasTuner's `OracleServicer`) and each worker's tuner talks to it through
KerasTuner's `OracleClient`. As shipped, that protocol trusts every process: the
chief binds its port with `SO_REUSEPORT`, so two chiefs can share one; a worker
killed mid-trial leaves the chief waiting for that trial forever; a dead chief
leaves its workers in a one-hour gRPC wait; two workers with one id run the same
trial; a worker started after the search ended waits an hour. keras-minibatch
keeps the protocol and adds an exclusive port, heartbeats and one-line refusals:

- `chief_server.ChiefServer` binds the port exclusively and serves the oracle
  through `chief_servicer`, which admits only workers of this search, hands a
  silent worker's trial to another, and says when the search is over;
- `worker_connection.WorkerConnection` waits for the chief a bounded time, sends
  heartbeats, and turns the chief's answers into one-line errors.

Every call a worker makes carries the metadata below: its id, a per-process
session token and the search's identity (`search_folder.search_identity`).
KerasTuner has no public API for this mode; its private pieces come from `compat`.
Standard library only.
"""

from __future__ import annotations

__all__ = ["HEARTBEAT_KEY", "HEARTBEAT_SECONDS", "PREPARING", "SEARCH_KEY", "SESSION_KEY", "TUNER_ID_KEY"]

HEARTBEAT_SECONDS = 1.0  # A worker's heartbeat interval; `heartbeat_timeout` is at least 5 of them.
# Metadata every worker call carries (gRPC metadata keys are lower-case ASCII).
TUNER_ID_KEY = "keras-minibatch-tuner-id"
SESSION_KEY = "keras-minibatch-session"
SEARCH_KEY = "keras-minibatch-search"
HEARTBEAT_KEY = "keras-minibatch-heartbeat"  # on a heartbeat: the chief answers without its space
# The chief's answer (gRPC `UNAVAILABLE`) while it checks its folder: alive, not ready.
PREPARING = "the chief is preparing the search folder"

