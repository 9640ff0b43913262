"""The compare command: full-batch, SGD and mini-batch training of one model under one budget."""

from __future__ import annotations

from keras_minibatch import config as config_lib
from keras_minibatch.checks import ConfigError
from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import preflight
from keras_minibatch.cli import run_state
from keras_minibatch.cli.errors import UsageError
from keras_minibatch.run_folders import folder_checks
from keras_minibatch.run_folders import run_files


def command_compare(config: config_lib.TrainConfig) -> int:
    from keras_minibatch.batch_sizes import config as compare_config  # Standard library only.

    preflight.check_distribution_for("compare", config)

    budget_epochs = cli_flags.BUDGET_EPOCHS.value
    if budget_epochs is None and cli_flags.BUDGET_SECONDS.value is None:
        budget_epochs = config.epochs
    try:
        batch_sizes = compare_config.parse_batch_sizes(cli_flags.BATCH_SIZES.value)
        compare_config.check_budget(budget_epochs, cli_flags.BUDGET_SECONDS.value)
        compare_config.check_train_config(config)
    except ConfigError as error:
        raise UsageError(f"--{error.field}={cli_flags.format_flag_value(error.value)} {error.allowed}") from None
    if cli_flags.WORKDIR.value:
        folder_checks.check_folder(cli_flags.WORKDIR.value, run_files.BATCH_SIZE_COMPARISON, overwrite=cli_flags.OVERWRITE.value)
    workdir = preflight.take_workdir(f"compare-{config.dataset}")
    run_state.run_folder = workdir
    run_state.not_resumable = "keeps the regimes that finished (comparison.csv); compare has no --resume: rerun with --overwrite to train them all"
    preflight.quiet_tensorflow()
    from keras_minibatch.batch_sizes import comparison as compare  # Imports TensorFlow: only after every check passed.

    compare.compare_batch_sizes(config, batch_sizes, workdir, budget_epochs=budget_epochs, budget_seconds=cli_flags.BUDGET_SECONDS.value, overwrite=cli_flags.OVERWRITE.value)
    return 0
