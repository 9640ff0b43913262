"""Keras callbacks for anyone's `fit()`: they import Keras and the standard library only."""

from callbacks.early_stopping import EarlyStopping
from callbacks.epoch_metrics_logger import EpochMetricsLogger

__all__ = ["EarlyStopping", "EpochMetricsLogger"]
