"""Keras callbacks for anyone's `fit()`: they import Keras, NumPy and the standard library only."""

from callbacks.early_stopping import EarlyStopping
from callbacks.epoch_metrics_logger import EpochMetricsLogger
from callbacks.progress_bar import ProgressBar
from callbacks.progress_logger import ProgressLogger
from callbacks.stop_on_non_finite_loss import StopOnNonFiniteLoss

__all__ = ["EarlyStopping", "EpochMetricsLogger", "ProgressBar", "ProgressLogger", "StopOnNonFiniteLoss"]
