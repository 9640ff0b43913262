"""Our tuners and oracles are KerasTuner's drop-ins: its arguments, its behaviour, plus a grid search that resumes."""

import gc
import inspect
import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pytest

import keras_minibatch
from keras_minibatch.tuning import oracles, tuners

# Ours -> KerasTuner's class it stands in for.
DROP_INS = {
    tuners.RandomSearch: keras_tuner.RandomSearch,
    tuners.BayesianOptimization: keras_tuner.BayesianOptimization,
    tuners.GridSearch: keras_tuner.GridSearch,
    tuners.Hyperband: keras_tuner.Hyperband,
    oracles.RandomSearchOracle: keras_tuner.oracles.RandomSearchOracle,
    oracles.BayesianOptimizationOracle: keras_tuner.oracles.BayesianOptimizationOracle,
    oracles.ResumableGridSearchOracle: keras_tuner.oracles.GridSearchOracle,
    oracles.CappedHyperbandOracle: keras_tuner.oracles.HyperbandOracle,
}
TUNER_NAMES = ("RandomSearch", "BayesianOptimization", "GridSearch", "Hyperband")


def _described(parameters):
    return [(parameter.name, parameter.kind, parameter.default) for parameter in parameters]


@pytest.mark.parametrize(("ours", "theirs"), DROP_INS.items(), ids=[cls.__name__ for cls in DROP_INS])
def test_constructor_takes_kerastuners_arguments_then_ours_keyword_only(ours, theirs):
    upstream = list(inspect.signature(theirs).parameters.values())
    mine = list(inspect.signature(ours).parameters.values())
    positional = [parameter for parameter in upstream if parameter.kind is not inspect.Parameter.VAR_KEYWORD]
    assert _described(mine[: len(positional)]) == _described(positional)  # names, positions, defaults
    additions = mine[len(positional):]
    if len(positional) < len(upstream):  # KerasTuner's `**kwargs` (for `keras_tuner.Tuner`) stays last
        assert additions and additions[-1].kind is inspect.Parameter.VAR_KEYWORD
        additions = additions[:-1]
    for parameter in additions:
        assert parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is not inspect.Parameter.empty, parameter


@pytest.mark.parametrize("name", TUNER_NAMES)
def test_tuners_are_public_like_kerastuners(name):
    assert getattr(keras_minibatch, name) is getattr(tuners, name)
    assert issubclass(getattr(keras_minibatch, name), getattr(keras_tuner, name))
    for ours, theirs in DROP_INS.items():
        assert getattr(keras_minibatch, ours.__name__) is ours and issubclass(ours, theirs)


def test_importing_the_package_stays_cheap():
    probe = "import sys, keras_minibatch; print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'keras_tuner'}))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "[]", result.stderr


def _build_model(hp):
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(hp.Choice("units", [2, 4]), activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.SGD(hp.Float("learning_rate", 1e-3, 1e-1, sampling="log", default=1e-2)), loss="mse", run_eagerly=True)
    return model


def _user_script(kt, directory):
    """A script written for `keras_tuner`, run with `kt` as `keras_tuner` or `keras_minibatch`; returns what it found."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    units_only = keras_tuner.HyperParameters()
    units_only.Choice("units", [2, 4])
    common = {"directory": str(directory), "overwrite": True, "executions_per_trial": 1}
    searches = {
        # Positional as KerasTuner's: hypermodel, objective, max_trials, seed; learning_rate not tuned.
        "random": kt.RandomSearch(_build_model, "val_loss", 2, 7, units_only, False, project_name="random", **common),
        # hypermodel, objective, max_trials, num_initial_points, alpha, beta, seed.
        "bayesian": kt.BayesianOptimization(_build_model, "val_loss", 2, 1, 1e-3, 3.0, 7, project_name="bayesian", **common),
        "grid": kt.GridSearch(_build_model, "val_loss", hyperparameters=units_only, tune_new_entries=False, project_name="grid", **common),
        # hypermodel, objective, max_epochs, factor, hyperband_iterations, seed.
        "hyperband": kt.Hyperband(_build_model, "val_loss", 2, 2, 1, 7, max_retries_per_trial=1, project_name="hyperband", **common),
    }
    found = {}
    for name, tuner in searches.items():
        tuner.search(x, y, epochs=1, validation_data=(x, y), verbose=0)
        trials = tuner.oracle.trials
        found[name] = {
            "oracle": {key: getattr(tuner.oracle, key, None) for key in ("max_trials", "alpha", "beta", "seed", "hyperband_iterations", "max_retries_per_trial")},
            "trials": [(key, trials[key].status, trials[key].hyperparameters.values, trials[key].score) for key in sorted(trials)],
        }
    return found


@pytest.fixture
def frozen_heap():
    """Leaves the objects alive so far out of the `gc.collect` KerasTuner runs before every model: same work, far faster."""
    gc.freeze()
    yield
    gc.unfreeze()


def test_a_script_written_for_kerastuner_runs_unchanged_on_ours(tmp_path, monkeypatch, capsys, frozen_heap):
    clearings = []
    clear_session = keras.backend.clear_session
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: (clearings.append(1), clear_session(*args, **kwargs))[1])
    theirs = _user_script(keras_tuner, tmp_path / "theirs")
    their_clearings, clearings[:] = len(clearings), []
    ours = _user_script(keras_minibatch, tmp_path / "ours")
    assert their_clearings > 0 and len(clearings) == their_clearings  # our search's shortcut stays off
    assert ours.keys() == theirs.keys()
    for name in theirs:
        assert ours[name]["oracle"] == theirs[name]["oracle"], name
        assert [trial[:3] for trial in ours[name]["trials"]] == [trial[:3] for trial in theirs[name]["trials"]], name
        assert [trial[3] for trial in ours[name]["trials"]] == pytest.approx([trial[3] for trial in theirs[name]["trials"]], rel=1e-5), name
    assert ours["bayesian"]["oracle"]["alpha"] == 1e-3 and ours["bayesian"]["oracle"]["beta"] == 3.0
    assert {values["learning_rate"] for _, _, values, _ in ours["random"]["trials"]} == {1e-2}  # tune_new_entries=False


@pytest.mark.parametrize("name", TUNER_NAMES)
def test_a_missing_hypermodel_or_an_unknown_argument_is_refused_as_kerastuner_does(tmp_path, name, capsys):
    def outcome(make):
        try:
            make()
        except ValueError as error:
            return ValueError, "Unrecognized arguments" in str(error)
        return None, False

    for arguments in ({"objective": "val_loss"}, {"hypermodel": _build_model, "objective": "val_loss", "max_trial": 3}):
        theirs = outcome(lambda: getattr(keras_tuner, name)(directory=str(tmp_path / "theirs"), **arguments))
        ours = outcome(lambda: getattr(keras_minibatch, name)(directory=str(tmp_path / "ours"), **arguments))
        assert ours == theirs, arguments

    class SpaceInRunTrial(getattr(keras_minibatch, name)):
        def run_trial(self, trial, *args, **kwargs):
            return trial.hyperparameters.Float("x", 0, 1)

    assert SpaceInRunTrial(objective="val_loss", directory=str(tmp_path / "subclass")).hypermodel is None


def test_capped_hyperband_oracle_has_no_cap_unless_asked(tmp_path):
    def statuses(oracle, project):
        oracle._set_project_dir(str(tmp_path), project)
        space = oracle.get_space()
        space.Float("x", 0, 1)
        oracle.update_space(space)
        trials = [oracle.create_trial(f"tuner{index}") for index in range(6)]
        return [(trial.trial_id, trial.status, trial.hyperparameters.values) for trial in trials]

    arguments = {"objective": keras_tuner.Objective("score", "max"), "max_epochs": 4, "factor": 2, "seed": 3}
    uncapped = statuses(oracles.CappedHyperbandOracle(**arguments), "ours")
    assert uncapped == statuses(keras_tuner.oracles.HyperbandOracle(**arguments), "theirs")
    assert [status for _, status, _ in uncapped] == ["RUNNING"] * 6
    capped = statuses(oracles.CappedHyperbandOracle(**arguments, max_trials=2), "capped")
    assert [status for _, status, _ in capped] == ["RUNNING", "RUNNING", "STOPPED", "STOPPED", "STOPPED", "STOPPED"]


def _public_values(instance, directory):
    """Every public attribute that is not a method, as comparable text: configs for what has one, the kind of other objects."""
    values = {}
    for name in dir(instance):
        if name.startswith("_"):
            continue
        value = getattr(instance, name)
        if inspect.ismethod(value) or inspect.isfunction(value):
            continue
        if isinstance(value, keras_tuner.Objective):
            value = ("Objective", value.name, value.direction)
        elif hasattr(value, "get_config") and not isinstance(value, type):  # HyperParameters
            value = (type(value).__name__, value.get_config())
        elif hasattr(value, "__dict__") and not isinstance(value, type):  # the oracle, hypermodel, logger: by kind
            value = type(value).__name__
        values[name] = repr(value).replace(str(directory), "<directory>")
    return values


@pytest.mark.parametrize("name", TUNER_NAMES)
def test_every_public_attribute_of_kerastuners_tuner_and_oracle_is_ours_too_with_its_value(tmp_path, name):
    arguments = {"objective": "val_loss", "seed": 3, "project_name": "p", "overwrite": True, **({"max_epochs": 2} if name == "Hyperband" else {"max_trials": 2})}
    theirs = getattr(keras_tuner, name)(_build_model, directory=str(tmp_path / "theirs"), **arguments)
    ours = getattr(keras_minibatch, name)(_build_model, directory=str(tmp_path / "ours"), **arguments)
    for their_object, our_object in ((theirs, ours), (theirs.oracle, ours.oracle)):
        their_values = _public_values(their_object, tmp_path / "theirs")
        our_values = _public_values(our_object, tmp_path / "ours")
        assert len(their_values) > 5, their_values  # the comparison is not empty
        assert set(their_values) <= set(our_values), sorted(set(their_values) - set(our_values))
        differing = {key for key in their_values if their_values[key] != our_values[key]}
        assert differing <= {"oracle"}, {key: (their_values[key], our_values[key]) for key in differing}
    assert isinstance(ours.oracle, type(theirs.oracle))  # the one difference: our oracle is the drop-in subclass of theirs
    assert _public_values(ours.oracle, tmp_path)["seed"] == "3" and "max_trials" in _public_values(theirs.oracle, tmp_path)
