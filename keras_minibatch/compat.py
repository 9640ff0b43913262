"""Where keras-minibatch leans on private or version-specific behaviour of its libraries: here only.

Every use of `keras.src` or `keras_tuner.src`, every override of a private method,
every patch and every upstream bug worked around is here, each saying what it works
around; the rest of the package uses public APIs. It is the one module that names
versions: checked with KerasTuner 1.4.8, Keras 3.15.1, TensorFlow 2.21, grpcio 1.85.

Importing it checks the installed Keras, KerasTuner and TensorFlow against
`SUPPORTED_VERSIONS` (lower bounds as in `pyproject.toml`) and raises
`UnsupportedVersionError` naming the package, its version and the supported range.
To try other versions anyway, set the environment variable
`KERAS_MINIBATCH_SKIP_VERSION_CHECK=1`; the workarounds below are then the first
suspects when something breaks. A package not installed is not checked. Importing
it costs the standard library only: the libraries are imported inside the functions.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import io
import os
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "FAILED_TRIAL_PREFIX", "SKIP_VERSION_CHECK_VARIABLE", "SUPPORTED_VERSIONS", "BuildWithoutClearingSession",
    "UnsupportedVersionError", "check_versions", "condition_proto_prints_hidden", "debug_tracebacks_off", "installed_version",
    "kerastuner_distributed_role", "kerastuner_protos", "kerastuner_save_best_epoch", "oracle_servicer_base", "quiet_oracle_client",
    "rank_one_step_results", "rebuild_grid_position", "requeue_trial", "route_oracle_client", "skip_symbolic_build",
]

# Package -> (lowest supported, first unsupported) release.
SUPPORTED_VERSIONS = {"keras": ((3, 3), (3, 16)), "keras-tuner": ((1, 4), (1, 5)), "tensorflow": ((2, 16), (2, 22))}
SKIP_VERSION_CHECK_VARIABLE = "KERAS_MINIBATCH_SKIP_VERSION_CHECK"
_DISTRIBUTIONS = {"tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel")}


class UnsupportedVersionError(ImportError):
    """An installed Keras, KerasTuner or TensorFlow is outside the range this package was checked with."""


def installed_version(package: str) -> str | None:
    """The installed version of `package` (a key of `SUPPORTED_VERSIONS`), or `None` when it is not installed."""
    for distribution in _DISTRIBUTIONS.get(package, (package,)):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(distribution)
    return None


def check_versions(environ: Mapping[str, str] = os.environ) -> None:
    """Refuses an installed Keras, KerasTuner or TensorFlow outside `SUPPORTED_VERSIONS`, unless `environ` skips the check.

    Raises:
        UnsupportedVersionError: naming each package out of range, its version, the range and the way around.
    """
    if environ.get(SKIP_VERSION_CHECK_VARIABLE, "") not in ("", "0"):
        return
    problems = []
    for package, (low, high) in SUPPORTED_VERSIONS.items():
        version = installed_version(package)
        release = re.match(r"\d+(?:\.\d+)*", version or "")  # "2.22.0rc1" counts as 2.22.0
        numbers = tuple(int(part) for part in release.group().split(".")) if release else ()
        if version is not None and not low <= numbers < high:
            problems.append(f"{package} {version} is installed; supported: {package}>={'.'.join(map(str, low))},<{'.'.join(map(str, high))}")
    if problems:
        raise UnsupportedVersionError(
            f"keras-minibatch was not checked with this version: {'; '.join(problems)}. Install a supported version, "
            f"or set {SKIP_VERSION_CHECK_VARIABLE}=1 to try this one (keras_minibatch/compat.py lists what may break)."
        )


check_versions()


# -- KerasTuner's private modules: it has no public API for its distributed mode or its checkpoint --


def kerastuner_save_best_epoch() -> type:
    """KerasTuner's `SaveBestEpoch` (`keras_tuner.src.engine.tuner_utils`), the checkpoint `Tuner.run_trial` gives each fit."""
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    return SaveBestEpoch


def kerastuner_protos() -> Any:
    """KerasTuner's gRPC messages and service (`keras_tuner.src.protos`); imports gRPC."""
    from keras_tuner.src import protos

    return protos


def oracle_servicer_base() -> type:
    """KerasTuner's gRPC `OracleServicer` (`keras_tuner.src.distribute.oracle_chief`), for the chief's servicer to extend."""
    from keras_tuner.src.distribute import oracle_chief

    return oracle_chief.OracleServicer


def kerastuner_distributed_role() -> str:
    """`"chief"`, `"worker"` or `"local"`, as `keras_tuner.src.distribute.utils` reads KerasTuner's variables.

    Raises:
        RuntimeError: KerasTuner's, naming the variable missing beside `KERASTUNER_ORACLE_IP`.
    """
    from keras_tuner.src.distribute import utils

    if not utils.has_chief_oracle():
        return "local"
    return "chief" if utils.is_chief_oracle() else "worker"


# A failed trial's message (a traceback) ends with the exception's private module path and the reason.
FAILED_TRIAL_PREFIX = "keras_tuner.src.errors.FailedTrialError: "


@contextlib.contextmanager
def debug_tracebacks_off() -> Iterator[None]:
    """Keeps KerasTuner from printing each failed trial's traceback while the block runs.

    `BaseTuner._try_run_and_update_trial` prints it while `keras_tuner.src.config.DEBUG`
    is true (its default); the trial table gives the reason, the trial's folder the traceback.
    """
    from keras_tuner.src import config as kerastuner_config

    before, kerastuner_config.DEBUG = kerastuner_config.DEBUG, False
    try:
        yield
    finally:
        kerastuner_config.DEBUG = before


# -- KerasTuner's private methods and attributes -------------------------------------


class BuildWithoutClearingSession:
    """Mixin for a KerasTuner `Tuner`: while `keeps_session`, its private `_try_build` without clearing the session.

    KerasTuner's calls `keras.backend.clear_session()` and `gc.collect()` before every model: full
    collections and a rebuild of TensorFlow's kernels per trial (benchmarks/tuning_overhead.py), needless
    for our search's trials, built fresh from a reset seed. The type check and `max_model_size` stay.
    """

    keeps_session = False  # KerasTuner's `_try_build`, unchanged

    def _try_build(self, hp: Any) -> Any:
        if not self.keeps_session:
            return super()._try_build(hp)
        import keras
        import keras_tuner
        from keras_tuner.src.engine.tuner import maybe_compute_model_size

        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.Model):
            raise keras_tuner.errors.FatalTypeError(f"HyperModel.build() must return a keras.Model; it returned {model!r} of type {type(model)}.")
        size = maybe_compute_model_size(model)
        if self.max_model_size and size > self.max_model_size:
            raise keras_tuner.errors.FailedTrialError(f"Oversized model: {size} parameters. Skip model.")
        return model


def rebuild_grid_position(oracle: Any) -> None:
    """Finds a reloaded `GridSearchOracle`'s place in the grid again; call it after `set_state`.

    The oracle keeps its place only in memory, in the private `_ordered_ids` (trials
    in grid order) and `_populate_next` (trials whose successor is still to be
    made); `get_state` saves neither. After a reload a search killed during a trial
    crashes when the rerun trial ends (`KeyError` in `LinkedList.next`), and one
    killed between trials stops as if the grid were exhausted. This rebuilds both
    from `oracle.trials`: started trials in grid order (the private `_compare`),
    ended ones as candidates whose successor is made unless it exists.
    """
    in_grid_order = functools.cmp_to_key(
        lambda a, b: oracle._compare(oracle.trials[a].hyperparameters.values, oracle.trials[b].hyperparameters.values)
    )
    ordered_ids = type(oracle._ordered_ids)()  # KerasTuner's linked list, fresh
    for trial_id in sorted(oracle.start_order, key=in_grid_order):
        ordered_ids.insert(trial_id)
    oracle._ordered_ids = ordered_ids
    # A trial whose successor exists is skipped by `populate_space`; the last one is not.
    oracle._populate_next = list(oracle.end_order)


def requeue_trial(oracle: Any, trial_id: str) -> None:
    """Has `oracle` hand `trial_id` to the next tuner that asks (its private `_retry_queue`); the caller saves it."""
    oracle._retry_queue.append(trial_id)


def route_oracle_client(client: Any, stub: Any) -> None:
    """Sends one worker's `OracleClient` calls through `stub`, which takes the deadline and metadata upon itself.

    The private `keras_tuner.src.distribute.oracle_client.OracleClient` calls its `stub`
    attribute with a one-hour timeout (keras-team/keras-tuner#990) and no metadata.
    """
    client.stub = stub


# -- KerasTuner's stray debug print ---------------------------------------------------
# `conditions.Parent.to_proto` prints its first value (a leftover `print`), so each
# conditional hyperparameter sent between chief and worker put a bare number among
# the trial lines. It is hidden where our code makes such protos; the class is left alone.


@contextlib.contextmanager
def condition_proto_prints_hidden() -> Iterator[None]:
    """Sends what is printed while the block runs to a throw-away buffer (for the whole
    process: keep the block to making protos, on a thread no other thread prints beside)."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def quiet_oracle_client(client: Any) -> None:
    """Hides the print in the two calls of one worker's `OracleClient` that send hyperparameter protos
    (made before they reach the stub), on its main thread, the only one of its threads that prints."""
    for name in ("update_space", "end_trial"):

        def quiet(*args: Any, _method: Callable[..., Any] = getattr(client, name), **kwargs: Any) -> Any:
            with condition_proto_prints_hidden():
                return _method(*args, **kwargs)

        setattr(client, name, quiet)


# -- Keras under MultiWorkerMirroredStrategy (tensorflow/tensorflow#72388) ------------
# Keras cannot `fit` under this strategy as shipped: `_maybe_symbolic_build` reduces a
# batch of `PerReplica` values, which the strategy refuses, and the per-step results
# are reduced with `axis=0`, which fails on the scalar metrics. Both workarounds
# change one model instance: nothing of them is saved; the saved model is plain Keras.


def skip_symbolic_build(model: Any) -> None:
    """Skips the private `Model._maybe_symbolic_build` on `model`: Keras builds the
    model, metrics and optimizer while tracing the first step anyway."""
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def rank_one_step_results(model: Any) -> None:
    """Makes `model`'s `train_step` and `test_step` return values of shape `[1]`, which Keras'
    `strategy.reduce("MEAN", value, axis=0)` averages back into scalars (the metrics' own
    state is already summed across workers, so the epoch metrics are the global batch's)."""
    import keras
    import tensorflow as tf

    def with_rank_one_results(step: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda data: keras.tree.map_structure(lambda value: tf.reshape(value, [1]), step(data))

    model.train_step = with_rank_one_results(model.train_step)
    model.test_step = with_rank_one_results(model.test_step)
