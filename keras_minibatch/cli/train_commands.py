"""The train and evaluate commands: check their flags, then train or re-score a saved model."""

from __future__ import annotations

from absl import flags

from keras_minibatch import config as config_lib
from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import preflight
from keras_minibatch.cli import run_state
from keras_minibatch.cli import terminal
from keras_minibatch.cli.errors import EXIT_FAILURE, UsageError, fail
from keras_minibatch.data.dataset import DataError
from keras_minibatch.data.sources import check_source
from keras_minibatch.run_folders import folder_checks
from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.training.plugins import parse_callback_spec


def command_train(config: config_lib.TrainConfig) -> int:
    preflight.check_resume_flags()
    preflight.check_distribution_for("train", config)
    if cli_flags.WORKDIR.value:
        folder_checks.check_folder(cli_flags.WORKDIR.value, run_files.RUN, overwrite=cli_flags.OVERWRITE.value, resume=cli_flags.RESUME.value)
        if cli_flags.RESUME.value:
            rundir.check_resumable_run(config, cli_flags.WORKDIR.value)
    for spec in config.callbacks:
        parse_callback_spec(spec)
    workdir = preflight.take_workdir(config.dataset)
    preflight.quiet_tensorflow()
    from keras_minibatch.training import run as training  # Imports TensorFlow: only after every check passed.

    run_state.run_folder = workdir
    try:
        training.train_and_evaluate(config, workdir, overwrite=cli_flags.OVERWRITE.value, resume=cli_flags.RESUME.value, progress_bar=terminal.show_progress_bar())
    except training.DivergenceError as error:
        fail(str(error), EXIT_FAILURE)
    return 0


def command_evaluate(config: config_lib.TrainConfig) -> int:
    if not cli_flags.MODEL.value:
        raise UsageError("--model is required for evaluate: a .keras file or a run folder")
    from keras_minibatch.training import evaluation

    model_path = evaluation.resolve_model_path(cli_flags.MODEL.value)
    # Score the same test rows the model was held out from: the run's own source and split,
    # unless the user names another source.
    explicit = not flags.FLAGS["dataset"].using_default_value
    try:
        saved, run_record = evaluation.read_run_config(model_path) or {}, evaluation.read_run_data(model_path) or {}
    except DataError:
        if not explicit:
            raise  # Without it, nothing says which data to score.
        saved, run_record = {}, {}
    run_data = config_lib.TrainConfig(dataset=saved["dataset"]).dataset if isinstance(saved.get("dataset"), str) and saved["dataset"] else None
    dataset = config.dataset if explicit or run_data is None else run_data
    test_fraction = config.test_fraction if not flags.FLAGS["test_fraction"].using_default_value else saved.get("test_fraction", config.test_fraction)
    seed = config.seed if not flags.FLAGS["seed"].using_default_value else saved.get("seed", config.seed)
    check_source(dataset)
    if run_data is None:
        whose = "given by --dataset; no config.json beside the model says what it trained on" if explicit else "no config.json beside the model: --dataset's default"
    elif dataset == run_data:
        whose = "the run's own data"
    else:
        whose = f"given by --dataset, not the run's data: it trained on {run_data}"
    expected = None if explicit else run_record.get("test_sha256")
    preflight.quiet_tensorflow()
    notes: list[str] = []
    metrics = evaluation.evaluate_saved_model(model_path, dataset=dataset, test_fraction=test_fraction, seed=seed, expected_test_sha256=expected, notes=notes)
    print(f"model: {model_path}\ndata:  {dataset} ({whose})")
    for note in notes:
        print(f"note:  {note}")
    from keras_minibatch.training import report  # Imports Keras: only once TensorFlow was imported quietly.

    print(report.format_test_metrics(metrics))
    return 0
