"""KerasTuner's own test scenarios, on our tuners and oracles: they behave as KerasTuner's classes do.

The scenarios and the facts they check follow the test files of KerasTuner
(https://github.com/keras-team/keras-tuner, Apache License 2.0):
keras_tuner/tuners/{gridsearch,randomsearch,hyperband,bayesian}_test.py and
keras_tuner/engine/tuner_test.py, as of commit d60150f8036cb3daaad9a79720da5213268c9972
(the newest layout the index held; the release these tests target moved them to
keras_tuner/src/). The code here is written for this suite, not copied: each test
names the upstream test it mirrors, and uses our classes where upstream used its
own (`keras_tuner.RandomSearch` -> `keras_minibatch.RandomSearch`, ...). Upstream
tests that train for many seconds or optimise a function over dozens of trials
are left out; tests that exercise only KerasTuner's base `Oracle` or `Tuner`
(none of our classes) too.
"""

import gc
import random

import keras
import keras_tuner
import numpy as np
import pytest

import keras_minibatch

SCORE = keras_tuner.Objective("score", "max")


@pytest.fixture(autouse=True)
def frozen_heap():
    """Leaves the objects alive so far out of the `gc.collect` KerasTuner runs before every model: same work, far faster."""
    gc.freeze()
    yield
    gc.unfreeze()


def _oracle(cls, tmp_path, **kwargs):
    oracle = cls(**kwargs)
    oracle._set_project_dir(str(tmp_path), "untitled")
    return oracle


def _finish(oracle, trial, score):
    oracle.update_trial(trial.trial_id, {oracle.objective.name: score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def _seeded(hps=None, **values):
    hps = hps or keras_tuner.HyperParameters()
    trial = keras_tuner.engine.trial.Trial(hyperparameters=hps.copy())
    trial.hyperparameters.values.update(values)
    trial.status = "COMPLETED"
    return trial


class _Declares(keras_tuner.HyperModel):
    """A hypermodel whose `build` and `fit` declare hyperparameters and train nothing."""

    def __init__(self, in_build, in_fit):
        super().__init__()
        self.in_build, self.in_fit = in_build, in_fit

    def build(self, hp):
        self.in_build(hp)
        return keras.Sequential()

    def fit(self, hp, model, *args, **kwargs):
        self.in_fit(hp)
        return random.random()


# -- GridSearch (upstream: tuners/gridsearch_test.py) ------------------------------


def _grid_search_over(tmp_path, declare):
    class DeclaringGridSearch(keras_minibatch.GridSearch):
        def run_trial(self, trial, *args, **kwargs):
            declare(trial.hyperparameters)
            return random.random()

    tuner = DeclaringGridSearch(directory=str(tmp_path))
    tuner.search(verbose=0)
    return tuner.oracle


def test_grid_search_tries_every_combination(tmp_path):  # test_that_exhaustive_space_is_explored
    def declare(hp):
        hp.Choice("units_1", [2, 4])
        hp.Boolean("dropout", default=True)
        hp.Choice("units_2", [1, 3])
        hp.Choice("optimizer", ["adam", "sgd", "rmsprop"])
        hp.Fixed("loss", "binary_crossentropy")

    oracle = _grid_search_over(tmp_path, declare)
    assert {hp.name for hp in oracle.get_space().space} == {"units_1", "dropout", "units_2", "optimizer", "loss"}
    explored = [trial.hyperparameters.values for trial in oracle.trials.values()]
    assert len(explored) == 24
    for units_1 in (2, 4):
        for units_2 in (1, 3):
            for optimizer in ("adam", "sgd", "rmsprop"):
                for dropout in (True, False):
                    combination = {"units_1": units_1, "units_2": units_2, "optimizer": optimizer, "dropout": dropout}
                    assert {**combination, "loss": "binary_crossentropy"} in explored


def test_grid_search_counts_ints_and_sampled_floats(tmp_path):  # test_int_and_float
    oracle = _grid_search_over(tmp_path, lambda hp: (hp.Int("int", 1, 5), hp.Float("float", 1, 2)))
    assert len(oracle.trials) == 5 * (10 + 1)  # a float without a step: 10 samples and its default


def test_grid_search_follows_hyperparameters_found_later(tmp_path):  # test_new_hp
    def declare(hp):
        if hp.Boolean("bool"):
            hp.Choice("choice1", [0, 1, 2])
        else:
            hp.Choice("choice2", [3, 4, 5])

    assert len(_grid_search_over(tmp_path, declare).trials) == 3 + 3 * 3


def test_grid_search_finds_hyperparameters_declared_in_fit(tmp_path):  # test_hp_in_fit
    hypermodel = _Declares(lambda hp: hp.Fixed("fixed", 3), lambda hp: hp.Choice("choice", [0, 1, 2]))
    tuner = keras_minibatch.GridSearch(hypermodel=hypermodel, directory=str(tmp_path))
    tuner.search(verbose=0)
    assert len(tuner.oracle.trials) == 3


def test_grid_search_with_conditional_scopes(tmp_path):  # test_conditional_scope
    def either(name, if_true, if_false):
        def declare(hp):
            on = hp.Boolean(name)
            with hp.conditional_scope(name, [True]):
                if on:
                    hp.Choice(*if_true)
            with hp.conditional_scope(name, [False]):
                if not on:
                    hp.Choice(*if_false)
        return declare

    hypermodel = _Declares(either("bool", ("choice1", [1, 2]), ("choice2", [3, 4])), either("bool2", ("choice3", [1, 2]), ("choice4", [3, 4])))
    tuner = keras_minibatch.GridSearch(hypermodel=hypermodel, directory=str(tmp_path))
    tuner.search(verbose=0)
    assert len(tuner.oracle.trials) == 4 * 4


def test_grid_oracle_waits_while_the_next_values_are_unknown(tmp_path):  # test_exhaust_trials_in_between_before_the_latter_finishes
    hypermodel = _Declares(lambda hp: hp.Boolean("bool"), lambda hp: hp.Boolean("bool2"))
    oracle = keras_minibatch.GridSearch(hypermodel=hypermodel, directory=str(tmp_path)).oracle

    def end(trial):
        hypermodel.fit(trial.hyperparameters, hypermodel.build(trial.hyperparameters))
        oracle.update_space(trial.hyperparameters)
        _finish(oracle, trial, random.random())

    def status(tuner_id):
        return oracle.create_trial(tuner_id)

    first, second = status("1"), status("2")
    assert (first.status, second.status) == ("RUNNING", "RUNNING")
    assert status("3").status == "IDLE"  # both values of bool taken, bool2 not known yet
    end(first)
    third = status("3")
    assert third.status == "RUNNING"  # bool2's other value, after the first trial
    assert status("4").status == "IDLE"
    end(second)
    fourth = status("4")
    assert fourth.status == "RUNNING"
    assert status("5").status == "IDLE"
    end(third)
    end(fourth)
    assert status("5").status == "STOPPED"


# -- RandomSearch (upstream: tuners/randomsearch_test.py) --------------------------


def test_random_search_oracle_learns_hyperparameters_declared_after_the_first_build(tmp_path):  # test_update_space
    def build_model(hp):
        model = keras.Sequential([keras.Input((3,))])
        for index in range(hp.Int("layers", 0, 2)):
            model.add(keras.layers.Dense(hp.Int(f"units_{index}", 2, 4, 2), activation="relu"))
        model.add(keras.layers.Dense(1, activation="sigmoid"))
        model.compile("sgd", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    class TwoLayers(keras_minibatch.RandomSearchOracle):
        def populate_space(self, trial_id):
            result = super().populate_space(trial_id)
            if "values" in result:
                result["values"]["layers"] = 2
            return result

    tuner = keras_tuner.Tuner(oracle=TwoLayers(objective="accuracy", max_trials=1), hypermodel=build_model, directory=str(tmp_path))
    assert {hp.name for hp in tuner.oracle.get_space().space} == {"layers"}
    tuner.search(np.ones((4, 3)), np.ones((4, 1)), epochs=1, verbose=0)
    assert {hp.name for hp in tuner.oracle.get_space().space} == {"layers", "units_0", "units_1"}


@pytest.mark.parametrize("tuner_class", [keras_minibatch.RandomSearch, keras_minibatch.BayesianOptimization])
def test_search_stops_when_the_space_is_exhausted(tmp_path, tuner_class):  # test_exhausted_search_space (both files)
    class TwoBooleans(tuner_class):
        def run_trial(self, trial, *args, **kwargs):
            trial.hyperparameters.Boolean("boolean")
            trial.hyperparameters.Boolean("boolean2")
            return [np.random.rand()]

    tuner = TwoBooleans(max_trials=15, directory=str(tmp_path))
    tuner.search(verbose=0)
    assert len(tuner.oracle.trials) == 4


# -- Hyperband (upstream: tuners/hyperband_test.py) --------------------------------


def test_hyperband_bracket_sizes(tmp_path):  # test_hyperband_oracle_bracket_configs
    oracle = _oracle(keras_minibatch.CappedHyperbandOracle, tmp_path, objective=SCORE, hyperband_iterations=1, max_epochs=8, factor=2)
    assert oracle._get_num_brackets() == 4  # starting at 8, 4, 2 and 1 epochs
    assert oracle._get_num_rounds(bracket_num=3) == 4
    assert (oracle._get_size(bracket_num=3, round_num=0), oracle._get_epochs(bracket_num=3, round_num=0)) == (8, 1)
    assert (oracle._get_size(bracket_num=3, round_num=3), oracle._get_epochs(bracket_num=3, round_num=3)) == (1, 8)
    assert oracle._get_num_rounds(bracket_num=0) == 1
    assert (oracle._get_size(bracket_num=0, round_num=0), oracle._get_epochs(bracket_num=0, round_num=0)) == (4, 8)


def _two_floats():
    hp = keras_tuner.HyperParameters()
    hp.Float("a", -100, 100)
    hp.Float("b", -100, 100)
    return hp


def test_hyperband_one_sweep_one_tuner(tmp_path):  # test_hyperband_oracle_one_sweep_single_thread
    oracle = _oracle(keras_minibatch.CappedHyperbandOracle, tmp_path, hyperparameters=_two_floats(), objective=SCORE,
                     hyperband_iterations=1, max_epochs=9, factor=3)
    score = 0
    for bracket in reversed(range(oracle._get_num_brackets())):
        for round_ in range(oracle._get_num_rounds(bracket)):
            for _ in range(oracle._get_size(bracket, round_)):
                trial = oracle.create_trial("tuner0")
                assert trial.status == "RUNNING"
                score += 1
                _finish(oracle, trial, score)
            assert len(oracle._brackets[0]["rounds"][round_]) == oracle._get_size(bracket, round_)
        assert len(oracle._brackets) == 1
    assert oracle.create_trial("tuner0").status == "STOPPED"
    assert len(oracle.ongoing_trials) == 0 and len(oracle._brackets) == 0
    assert oracle.get_best_trials()[0].score == score


def test_hyperband_one_sweep_many_tuners(tmp_path):  # test_hyperband_oracle_one_sweep_parallel
    oracle = _oracle(keras_minibatch.CappedHyperbandOracle, tmp_path, hyperparameters=_two_floats(), objective=SCORE,
                     hyperband_iterations=1, max_epochs=4, factor=2)
    round_0 = [oracle.create_trial(f"tuner{index}") for index in range(10)]  # every bracket's first round at once
    assert all(trial.status == "RUNNING" for trial in round_0) and len(oracle._brackets) == 3
    assert oracle.create_trial("tuner10").status == "IDLE"  # round 1 waits for round 0
    for trial in round_0:
        _finish(oracle, trial, 1)
    round_1 = [oracle.create_trial(f"tuner{index}") for index in range(4)]
    assert all(trial.status == "RUNNING" for trial in round_1) and len(oracle._brackets) == 2
    assert oracle.create_trial("tuner10").status == "IDLE"
    for trial in round_1:
        _finish(oracle, trial, 1)
    round_2 = oracle.create_trial("tuner0")
    assert len(oracle._brackets) == 1
    assert oracle.create_trial("tuner10").status == "IDLE"
    _finish(oracle, round_2, 1)
    assert oracle.create_trial("tuner10").status == "STOPPED"


def test_hyperband_refuses_a_factor_below_2():  # test_factor_less_than_2_error
    with pytest.raises(ValueError, match="factor needs"):
        keras_minibatch.CappedHyperbandOracle(objective=SCORE, hyperband_iterations=1, max_epochs=8, factor=1)


def test_hyperband_stops_when_the_first_bracket_runs_out_of_values(tmp_path):  # test_exhausted_values_during_init_bracket
    oracle = _oracle(keras_minibatch.CappedHyperbandOracle, tmp_path, objective=SCORE, hyperband_iterations=1, max_epochs=8, factor=3)
    space = oracle.get_space()
    space.Boolean("bool")
    oracle.update_space(space)
    first, second = oracle.create_trial("a"), oracle.create_trial("b")
    assert oracle.create_trial("c").status == "IDLE"
    for trial in (first, second):
        oracle.update_trial(trial.trial_id, {"score": np.random.rand()})
        oracle.end_trial(trial)
    assert oracle.create_trial("a").status == "STOPPED"


def test_hyperband_saves_and_restores_its_place(tmp_path):  # test_hyperband_save_and_restore (no training)
    class Untrained(keras_minibatch.Hyperband):
        def run_trial(self, trial, *args, **kwargs):
            trial.hyperparameters.Float("x", 0, 1)
            return random.random()

    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0, 1)
    tuner = Untrained(objective=SCORE, hyperparameters=hps, hyperband_iterations=1, max_epochs=7, factor=2, directory=str(tmp_path))
    tuner.search(verbose=0)
    trials = len(tuner.oracle.trials)
    assert trials > 0 and tuner.oracle._current_iteration == 0
    tuner.save()
    tuner.oracle.trials, tuner.oracle._current_iteration = {}, 5
    tuner.reload()
    assert len(tuner.oracle.trials) == trials and tuner.oracle._current_iteration == 0


# -- BayesianOptimization (upstream: tuners/bayesian_test.py) ----------------------


def _mixed_space():
    hps = keras_tuner.HyperParameters()
    hps.Choice("a", [1, 2], default=1)
    hps.Int("b", 3, 10, default=3)
    hps.Float("c", 0, 1, 0.1, default=0)
    hps.Fixed("d", 7)
    hps.Choice("e", [9, 0], default=9)
    return hps


@pytest.mark.parametrize("scores", [range(5), [0] * 5], ids=["rising", "all_zero"])
def test_bayesian_oracle_runs_past_its_initial_points(tmp_path, scores):  # test_bayesian_oracle, ..._with_zero_y
    oracle = _oracle(keras_minibatch.BayesianOptimizationOracle, tmp_path, objective=SCORE, max_trials=20, num_initial_points=2,
                     hyperparameters=_mixed_space())
    for index, score in enumerate(scores):
        trial = oracle.create_trial(str(index))
        assert trial.status == "RUNNING"
        _finish(oracle, trial, score)


def test_bayesian_oracle_fills_hyperparameters_added_to_its_space(tmp_path):  # test_bayesian_dynamic_space
    hps = keras_tuner.HyperParameters()
    hps.Choice("a", [1, 2], default=1)
    oracle = _oracle(keras_minibatch.BayesianOptimizationOracle, tmp_path, objective="val_acc", max_trials=20, num_initial_points=10)
    oracle.hyperparameters = hps
    for index in range(10):
        oracle.populate_space(str(index))
    for name, declare in (("b", lambda: hps.Int("b", 3, 10, default=3)), ("c", lambda: hps.Float("c", 0, 1, 0.1, default=0)),
                          ("d", lambda: hps.Fixed("d", 7)), ("e", lambda: hps.Choice("e", [9, 0], default=9))):
        declare()
        assert name in oracle.populate_space(f"1_{name}")["values"]


def test_bayesian_oracle_goes_on_after_a_reload(tmp_path):  # test_bayesian_save_reload
    hps = keras_tuner.HyperParameters()
    for name, values in zip("abcde", ([1, 2], [3, 4], [5, 6], [7, 8], [9, 0])):
        hps.Choice(name, values)

    def make():
        return _oracle(keras_minibatch.BayesianOptimizationOracle, tmp_path, objective=SCORE, max_trials=20, hyperparameters=hps)

    oracle = make()
    for _ in range(3):
        _finish(oracle, oracle.create_trial("tuner_id"), 1.0)
    oracle.save()
    oracle = make()
    oracle.reload()
    for _ in range(3):
        _finish(oracle, oracle.create_trial("tuner_id"), 1.0)
    assert len(oracle.trials) == 6


def test_bayesian_oracle_saves_before_any_result(tmp_path):  # test_save_before_result
    oracle = _oracle(keras_minibatch.BayesianOptimizationOracle, tmp_path, objective=SCORE, max_trials=10, hyperparameters=_mixed_space())
    oracle.populate_space("1")
    oracle.save()


def test_bayesian_tuner_uses_our_oracle_with_its_alpha_and_beta(tmp_path):  # test_bayesian_optimization_tuner(_set_alpha_beta)
    tuner = keras_minibatch.BayesianOptimization(lambda hp: keras.Sequential(), objective="val_accuracy", max_trials=15, alpha=1e-3,
                                                 beta=3.0, directory=str(tmp_path))
    assert isinstance(tuner.oracle, keras_minibatch.BayesianOptimizationOracle)
    assert (tuner.oracle.alpha, tuner.oracle.beta) == (1e-3, 3.0)


def _bayesian_with(tmp_path, hps, seeded):
    oracle = _oracle(keras_minibatch.BayesianOptimizationOracle, tmp_path, objective=SCORE, max_trials=20, hyperparameters=hps, num_initial_points=2)
    for trial in seeded:
        oracle.trials[trial.trial_id] = trial
    return oracle


def test_bayesian_oracle_suggests_where_the_score_is_high(tmp_path):  # test_bayesian_oracle_maximize
    hps = keras_tuner.HyperParameters()
    hps.Int("a", -100, 100)
    seeded = []
    for index in range(5):
        for sign in (1, -1):
            trial = _seeded(hps, a=sign * 10 * index)
            trial.score = sign * index
            seeded.append(trial)
    trial = _bayesian_with(tmp_path, hps, seeded).create_trial("tuner0")
    assert trial.status == "RUNNING" and trial.hyperparameters.get("a") > 0


def test_bayesian_oracle_samples_hyperparameters_added_later(tmp_path):  # test_hyperparameters_added
    hps = keras_tuner.HyperParameters()
    hps.Int("a", -100, 100)
    seeded = []
    for index in range(10):
        trial = _seeded(hps, a=10 * index)
        trial.score = index
        seeded.append(trial)
    oracle = _bayesian_with(tmp_path, hps, seeded)
    added = keras_tuner.HyperParameters()
    added.Float("b", 3.2, 6.4, step=0.2, default=3.6)
    added.Boolean("c", default=True)
    oracle.update_space(added)
    trial = oracle.create_trial("tuner0")
    assert trial.status == "RUNNING" and {"b", "c"} <= set(trial.hyperparameters.values)


def test_bayesian_oracle_respects_a_float_step(tmp_path):  # test_step_respected
    hps = keras_tuner.HyperParameters()
    hps.Float("c", 0, 10, step=3)
    seeded = []
    for index in range(10):
        trial = _seeded(hps, c=3.0)
        trial.score = index
        seeded.append(trial)
    assert _bayesian_with(tmp_path, hps, seeded).create_trial("tuner0").hyperparameters.get("c") in {0, 3, 6, 9}


def test_bayesian_oracle_with_two_tuners_interleaved(tmp_path):  # test_interleaved_distributed_optimization
    hps = keras_tuner.HyperParameters()
    for name in "abcd":
        hps.Float(name, -1, 1)

    def score(trial):
        hp = trial.hyperparameters
        return -1 * hp["a"] ** 3 + hp["b"] ** 3 + hp["c"] - abs(hp["d"])

    oracle = _oracle(keras_minibatch.BayesianOptimizationOracle, tmp_path, objective=keras_tuner.Objective("score", "min"), hyperparameters=hps,
                     max_trials=60, num_initial_points=2)
    first, second = oracle.create_trial("tuner_0"), oracle.create_trial("tuner_1")
    _finish(oracle, first, score(first))
    third = oracle.create_trial("tuner_0")
    _finish(oracle, second, score(second))
    fourth = oracle.create_trial("tuner_1")  # fitted with the third trial still running
    _finish(oracle, third, score(third))
    _finish(oracle, fourth, score(fourth))
    assert all(trial.status == "COMPLETED" for trial in oracle.trials.values()) and len(oracle.trials) == 4


def test_bayesian_search_records_a_failed_trial_and_goes_on(tmp_path):  # test_skip_failed_trials
    class FailsFirst(keras_minibatch.BayesianOptimization):
        def run_trial(self, trial, *args, **kwargs):
            for name in ("boolean", "boolean2", "boolean3", "boolean4"):
                trial.hyperparameters.Boolean(name)
            if len(self.oracle.start_order) == 1:
                raise keras_tuner.errors.FailedTrialError()
            return [np.random.rand()]

    tuner = FailsFirst(alpha=1e-4, beta=2.6, max_trials=15, directory=str(tmp_path))
    tuner.search(verbose=0)
    statuses = [trial.status for trial in tuner.oracle.trials.values()]
    assert "FAILED" in statuses and "COMPLETED" in statuses


@pytest.mark.parametrize(("module_name", "message"), [("scipy", "Please install scipy"), ("sklearn", "Please install scikit-learn")])
def test_bayesian_tuner_asks_for_its_optional_dependencies(tmp_path, monkeypatch, module_name, message):  # test_*_not_install_error
    from keras_tuner.src.tuners import bayesian  # where KerasTuner looks them up

    monkeypatch.setattr(bayesian, module_name, None)
    with pytest.raises(ImportError, match=message):
        keras_minibatch.BayesianOptimization(hypermodel=lambda hp: keras.Sequential(), directory=str(tmp_path))


# -- Tuner behaviour, through our RandomSearch (upstream: engine/tuner_test.py) ----


def test_a_tuner_without_a_hypermodel_is_refused_in_kerastuners_words(tmp_path):  # test_no_hypermodel_without_override_run_trial_error
    with pytest.raises(ValueError, match="Received `hypermodel=None`"):
        keras_minibatch.RandomSearch(max_trials=2, executions_per_trial=3, directory=str(tmp_path))


@pytest.mark.parametrize(("objective", "result"), [("val_loss", lambda value: {"val_loss": value}), ("val_loss", float), (None, float)],
                         ids=["dict", "float", "float_without_objective"])
def test_run_trial_defines_the_space_without_a_hypermodel(tmp_path, objective, result):  # test_no_hypermodel_with_objective, ..._no_objective
    class SpaceInRunTrial(keras_minibatch.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            return result(trial.hyperparameters.Float("value", 0, 10))

    tuner = SpaceInRunTrial(objective=objective, max_trials=2, directory=str(tmp_path))
    tuner.search(verbose=0)
    assert len(tuner.oracle.trials) == 2


@pytest.mark.parametrize(("objective", "result", "message"), [
    ("val_loss", lambda hp: hp.Choice("value", ["a", "b"]), r"Tuner\.run_trial\(\) to be one of"),
    (None, lambda hp: {"val_loss": hp.Float("value", 0, 10)}, r"Tuner\.run_trial\(\) to be a single float"),
], ids=["string", "dict_without_objective"])
def test_a_run_trial_result_of_the_wrong_type_is_refused(tmp_path, objective, result, message):  # test_run_trial_return_string, ..._not_float
    class Returns(keras_minibatch.RandomSearch):
        def run_trial(self, trial, **kwargs):
            return result(trial.hyperparameters)

    tuner = Returns(objective=objective, max_trials=2, executions_per_trial=3, directory=str(tmp_path))
    with pytest.raises(TypeError, match=message):
        tuner.search(verbose=0)


class _Mode(keras_tuner.HyperModel):
    """Upstream's mock: a model whose `fit` reports a fixed loss per epoch, picked by `mode`."""

    LOSSES = {0: [9.0, 6.0, 3.0], 1: [13.0, 12.0, 11.0]}

    def build(self, hp):
        losses = self.LOSSES[hp.Choice("mode", [0, 1])]

        class Fixed(keras.Model):
            def fit(self, *args, callbacks=(), **kwargs):
                for callback in callbacks:
                    callback.set_model(self)
                for epoch, loss in enumerate(losses):
                    for callback in callbacks:
                        callback.on_epoch_begin(epoch)
                        callback.on_epoch_end(epoch, logs={"loss": loss})
                history = keras.callbacks.History()
                history.history = {"loss": list(losses)}
                return history

            def save_weights(self, *args, **kwargs):
                pass

        model = Fixed()
        model.optimizer = True
        return model


def test_scores_tracked_through_our_random_search_oracle(tmp_path):  # test_tuning_correctness, assert_found_best_score
    tuner = keras_tuner.Tuner(oracle=keras_minibatch.RandomSearchOracle(objective="loss", max_trials=2, seed=1337), hypermodel=_Mode(),
                              directory=str(tmp_path))
    tuner.search(callbacks=[])
    best, other = sorted(tuner.oracle.trials.values(), key=lambda trial: trial.score)
    assert (best.score, other.score) == (3.0, 11.0)
    assert tuner.oracle.get_best_trials(1)[0].trial_id == best.trial_id


def test_tuner_refuses_a_hypermodel_of_the_wrong_kind(tmp_path):  # test_tuner_errors
    oracle = keras_minibatch.RandomSearchOracle(objective="val_accuracy", max_trials=3)
    with pytest.raises(ValueError, match="`hypermodel` argument should be either"):
        keras_tuner.Tuner(oracle=oracle, hypermodel="build_model", directory=str(tmp_path))


def test_metric_direction_comes_from_the_objective(tmp_path):  # test_metric_direction_inferred_from_objective
    for direction in ("max", "min"):
        oracle = _oracle(keras_minibatch.RandomSearchOracle, tmp_path / direction, objective=keras_tuner.Objective("a", direction), max_trials=1)
        trial = oracle.create_trial("tuner0")
        oracle.update_trial(trial.trial_id, {"a": 1})
        assert oracle.get_trial(trial.trial_id).metrics.get_direction("a") == direction


def test_an_objective_of_unknown_direction_is_refused(tmp_path):  # test_error_on_unknown_objective_direction
    with pytest.raises(ValueError, match="Could not infer optimization direction"):
        keras_minibatch.RandomSearch(hypermodel=lambda hp: keras.Sequential(), objective="custom_metric", max_trials=2, directory=str(tmp_path))


class _Untrained(keras_minibatch.RandomSearch):
    def run_trial(self, trial, *args, **kwargs):
        return {"val_accuracy": trial.hyperparameters.Float("value", 0, 1)}


def test_an_existing_project_is_reloaded_refused_or_overwritten(tmp_path):  # test_reloading_error_message, test_overwrite_true
    _Untrained(objective="val_accuracy", max_trials=2, directory=str(tmp_path)).search(verbose=0)
    assert len(_Untrained(objective="val_accuracy", max_trials=2, directory=str(tmp_path)).oracle.trials) == 2
    with pytest.raises(RuntimeError, match="pass `overwrite=True`"):
        keras_minibatch.BayesianOptimization(lambda hp: keras.Sequential(), objective="val_accuracy", max_trials=2, directory=str(tmp_path))
    overwritten = _Untrained(objective="val_accuracy", max_trials=2, directory=str(tmp_path), overwrite=True)
    assert len(overwritten.oracle.trials) == 0


def test_a_fixed_space_refuses_new_hyperparameters(tmp_path):  # test_static_space_errors
    hp = keras_tuner.HyperParameters()
    hp.Int("num_layers", 1, 3, default=2)

    def build_model(hp):
        hp.Float("learning_rate", 1e-5, 1e-2)
        return keras.Sequential()

    with pytest.raises(RuntimeError, match="`allow_new_entries` is `False`"):
        keras_minibatch.RandomSearch(build_model, objective="val_accuracy", max_trials=2, directory=str(tmp_path), hyperparameters=hp,
                                     allow_new_entries=False)


def test_the_initial_space_holds_every_conditional_branch(tmp_path):  # test_init_build_all_hps_in_all_conditions, ..._parent_arg
    def build_model(hp):
        kind = hp.Choice("model_type", ["cnn", "mlp"])
        with hp.conditional_scope("model_type", ["cnn"]):
            if kind == "cnn":
                hp.Int("n_filters", 2, 4)
        with hp.conditional_scope("model_type", ["mlp"]):
            if kind == "mlp":
                hp.Int("n_units", 6, 8)
        hp.Boolean("parent", default=True)
        hp.Boolean("child", parent_name="parent", parent_values=[False])
        return keras.Sequential()

    tuner = keras_minibatch.RandomSearch(build_model, objective="val_accuracy", max_trials=1, directory=str(tmp_path))
    assert {hp.name for hp in tuner.oracle.hyperparameters.space} == {"model_type", "n_filters", "n_units", "parent", "child"}


def test_a_build_that_returns_no_model_stops_the_search(tmp_path):  # test_build_did_not_return_keras_model
    tuner = keras_minibatch.RandomSearch(hypermodel=lambda hp: None, objective="val_accuracy", directory=str(tmp_path))
    with pytest.raises(keras_tuner.errors.FatalTypeError, match="Expected the model-building function"):
        tuner.search(verbose=0)


def test_callbacks_must_be_deep_copyable(tmp_path):  # test_callback_cannot_be_deep_copied
    tuner = keras_minibatch.RandomSearch(hypermodel=lambda hp: keras.Sequential(), objective="val_accuracy", directory=str(tmp_path))
    with pytest.raises(keras_tuner.errors.FatalValueError, match="should be deep-copyable"):
        tuner.search(callbacks=[keras_tuner])
