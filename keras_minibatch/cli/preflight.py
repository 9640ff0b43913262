"""What several commands do before their work: shared flag checks, the folder they write, TensorFlow's import.

Nothing here imports TensorFlow until `quiet_tensorflow`, which a command calls only
after every check passed.
"""

from __future__ import annotations

from keras_minibatch import config as config_lib
from keras_minibatch.cli import flags as cli_flags
from keras_minibatch.cli import run_state
from keras_minibatch.cli.errors import UsageError
from keras_minibatch.run_folders import folder_claim


def quiet_tensorflow() -> None:
    """Imports TensorFlow with its C++ start-up chatter kept off the terminal.

    Before the import, glibc's malloc arenas are capped (see `malloc_arenas`):
    TensorFlow's threads would otherwise hold more memory the busier the machine.
    """
    from keras_minibatch.quiet import import_tensorflow_quietly
    from keras_minibatch.training.malloc_arenas import limit_malloc_arenas

    limit_malloc_arenas()
    import_tensorflow_quietly()


def check_resume_flags() -> None:
    if cli_flags.RESUME.value and cli_flags.OVERWRITE.value:
        raise UsageError("--resume and --overwrite exclude each other: resume continues the folder, overwrite deletes it")
    if cli_flags.RESUME.value and not cli_flags.WORKDIR.value:
        raise UsageError("--resume needs --workdir: the folder to continue")


def check_distribution_for(command: str, config: config_lib.TrainConfig) -> None:
    if config.distribution != "multi_worker":
        return
    if command != "train":
        raise UsageError(
            f"--distribution=multi_worker is for train; {command} runs its trainings in one process "
            + ("(spread a search over machines with KerasTuner's chief/worker mode: KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT)" if command == "tune" else "(use none or mirrored)")
        )
    from keras_minibatch.training.multi_worker import ClusterConfigError, check_tf_config  # Standard library only.

    try:
        check_tf_config()
    except ClusterConfigError as error:
        raise UsageError(str(error)) from None


def take_workdir(default_name: str) -> str:
    """Returns `--workdir`, or creates a fresh default folder (atomically: concurrent runs each get their own)."""
    if cli_flags.WORKDIR.value:
        return cli_flags.WORKDIR.value
    folder = str(folder_claim.make_default_folder(default_name))
    run_state.created_folder = folder
    return folder
