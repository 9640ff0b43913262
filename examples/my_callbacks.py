"""A custom callback to plug into the CLI with --callbacks.

Run from the repository root:
  PYTHONPATH=examples keras-minibatch train --dataset=digits \
      --callbacks='my_callbacks:PrintLearningRate(every=2)'
"""

import keras


class PrintLearningRate(keras.callbacks.Callback):
    """Prints the optimizer's learning rate every `every` epochs.

    Args:
        every: Print on every `every`-th epoch (1-based). Defaults to `1`.
    """

    def __init__(self, every: int = 1):
        super().__init__()
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"`every` ({every!r}) must be an integer >= 1.")
        self.every = every

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if (epoch + 1) % self.every == 0:
            learning_rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            print(f"epoch {epoch + 1}: learning rate {learning_rate:.6g}", flush=True)

    def get_config(self):
        return {"every": self.every}
