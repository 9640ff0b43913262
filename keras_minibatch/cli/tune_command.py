"""The tune command: check the search's flags and folder, then search (alone, as chief or as worker) or compare strategies."""

from __future__ import annotations

from absl import flags

from keras_minibatch import config as config_lib
from keras_minibatch.checks import ConfigError
from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import preflight
from keras_minibatch.cli import run_state
from keras_minibatch.cli import terminal
from keras_minibatch.cli.errors import EXIT_FAILURE, UsageError, fail
from keras_minibatch.training.plugins import parse_callback_spec
from keras_minibatch.tuning import oracle_address
from keras_minibatch.tuning import search_folder as search_dir
from keras_minibatch.tuning.oracle_address import OracleAddressError


def _check_distributed_environment() -> bool:
    """Whether KerasTuner's distributed mode is asked for; refuses a half or malformed set of its variables, or a taken port."""
    try:
        address = oracle_address.oracle_address()
        if address is None:
            return False
        if address.role == "chief":
            oracle_address.check_port_free(address)
        oracle_address.check_heartbeat_timeout(cli_flags.HEARTBEAT_TIMEOUT.value)
    except OracleAddressError as error:
        raise UsageError(str(error)) from None
    except ConfigError as error:
        raise UsageError(f"--heartbeat_timeout={cli_flags.format_flag_value(error.value)} {error.allowed}") from None
    return True


def _keep_recorded_xla_choice(config: config_lib.TrainConfig, record: dict | None) -> config_lib.TrainConfig:
    """A search begun before `--jit_compile=auto` recorded true or false: resumed without the flag, it keeps that.

    `record` is the resumed search's `search_config.json` (`check_search_dir`'s), or `None` for a new search.
    """
    saved_config = (record or {}).get("train_config")
    recorded = saved_config.get("jit_compile") if isinstance(saved_config, dict) else None
    if flags.FLAGS["jit_compile"].present or not isinstance(recorded, bool):
        return config
    return config.replace(jit_compile=recorded)


def command_tune(config: config_lib.TrainConfig) -> int:
    preflight.check_distribution_for("tune", config)
    search_config = cli_flags.build_search_config()
    preflight.check_resume_flags()
    if cli_flags.SEED_VARIANCE.value < 0 or cli_flags.SEED_VARIANCE.value == 1:
        raise UsageError(f"--seed_variance={cli_flags.SEED_VARIANCE.value} must be 0 (off) or a number of seeds >= 2: a spread needs two runs")
    if cli_flags.COMPARE.value and cli_flags.SEED_VARIANCE.value:
        raise UsageError("--seed_variance retrains one search's winner; it cannot be combined with --compare")
    # KerasTuner's distributed mode; the library asks KerasTuner whether this process is the chief or a worker.
    distributed = _check_distributed_environment()
    if distributed and cli_flags.COMPARE.value:
        raise UsageError("--compare runs its searches one after another and cannot be distributed; unset KERASTUNER_ORACLE_IP")
    if distributed and not cli_flags.WORKDIR.value:
        raise UsageError("a distributed search (KERASTUNER_ORACLE_IP is set) needs --workdir: the search folder of the chief and of every worker")
    if cli_flags.COMPARE.value and cli_flags.WORKDIR.value:
        fingerprint = search_dir.comparison_fingerprint(config, search_config, ("grid", "random", "bayesian"))
        search_dir.check_comparison_dir(cli_flags.WORKDIR.value, resume=cli_flags.RESUME.value, overwrite=cli_flags.OVERWRITE.value, fingerprint=fingerprint)
    elif cli_flags.WORKDIR.value and not distributed:  # a worker must not judge a folder its chief may be preparing; `search` checks it on the chief
        record = search_dir.check_search_dir(cli_flags.WORKDIR.value, resume=cli_flags.RESUME.value, overwrite=cli_flags.OVERWRITE.value)
        config = _keep_recorded_xla_choice(config, record)
        if record is not None:  # the search resumed must be this one
            search_dir.check_same_search(record["fingerprint"], search_dir.config_fingerprint(config, search_config), cli_flags.WORKDIR.value)
    for spec in config.callbacks:
        parse_callback_spec(spec)
    workdir = preflight.take_workdir(f"compare-{config.dataset}" if cli_flags.COMPARE.value else f"tune-{search_config.tuner}-{config.dataset}")
    run_state.run_folder = workdir
    preflight.quiet_tensorflow()
    from keras_minibatch.tuning import search as tuning  # Imports TensorFlow: only after every check passed.
    from keras_minibatch.tuning.search_result import SearchError

    try:
        if cli_flags.COMPARE.value:
            from keras_minibatch.tuning import strategy_comparison

            strategy_comparison.compare_search_strategies(config, search_config, workdir, resume=cli_flags.RESUME.value, overwrite=cli_flags.OVERWRITE.value)
            return 0
        result = tuning.search(
            config, search_config, workdir, resume=cli_flags.RESUME.value, overwrite=cli_flags.OVERWRITE.value,
            heartbeat_timeout=cli_flags.HEARTBEAT_TIMEOUT.value, progress_bar=terminal.show_progress_bar(),
        )
    except SearchError as error:
        fail(str(error), EXIT_FAILURE)
    if cli_flags.SEED_VARIANCE.value and result.role != "worker":
        from keras_minibatch.tuning import seed_variance

        print(seed_variance.seed_variance_report(result, cli_flags.SEED_VARIANCE.value))
    return 0
