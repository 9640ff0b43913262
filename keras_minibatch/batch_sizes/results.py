"""What a batch-size comparison measures: curve points, one result per regime, the whole comparison.

Plain data, no TensorFlow: `comparison` fills these in, `report` writes them out.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """The validation rows scored once during a regime's training.

    Attributes:
        epoch: Epochs done, fractional mid-epoch (`updates / updates_per_epoch`).
        updates: Optimizer updates done.
        seconds: Training seconds so far (validation time excluded).
        val_loss: Mean cross-entropy on the validation rows.
        val_accuracy: Accuracy on the validation rows.
    """

    epoch: float
    updates: int
    seconds: float
    val_loss: float
    val_accuracy: float


@dataclasses.dataclass
class RegimeResult:
    """One batch size trained under the budget.

    Attributes:
        label: The batch size as asked for (`"full"`, `"1"`, `"32"`).
        name: `"full batch"`, `"SGD"` or `"mini-batch"`.
        batch_size: Rows per update.
        updates_per_epoch: Updates in one pass over the training rows.
        updates: Updates done within the budget.
        epochs: Epochs done (fractional when the time budget stopped mid-epoch).
        train_seconds: Training wall time (validation scoring excluded).
        seconds_per_update: `train_seconds / updates`.
        seconds_per_epoch: `seconds_per_update * updates_per_epoch`.
        stopped_by: `"epochs"` or `"seconds"`: the budget that ended training.
        initial_weights_sha256: Digest of the weights training started from.
        curve: Validation scores during training, the first before any update.
        test_loss: Test split loss, scored once at the end.
        test_accuracy: Test split accuracy, scored once at the end.
    """

    label: str
    name: str
    batch_size: int
    updates_per_epoch: int
    updates: int
    epochs: float
    train_seconds: float
    seconds_per_update: float
    seconds_per_epoch: float
    stopped_by: str
    initial_weights_sha256: str
    curve: list[CurvePoint]
    test_loss: float
    test_accuracy: float

    def seconds_to_loss(self, target: float) -> float | None:
        """Training seconds until the validation loss first reached `target`, or `None`."""
        return next((point.seconds for point in self.curve if point.val_loss <= target), None)


@dataclasses.dataclass
class ComparisonResult:
    """All regimes of one comparison, and the files written.

    Attributes:
        regimes: One result per batch size, in the order asked for.
        num_fit_samples: Training rows each regime fits on.
        num_validation_samples: Rows held out (stratified) for the curves.
        budget_epochs: The epoch budget, or `None`.
        budget_seconds: The wall-time budget, or `None`.
        workdir: The folder holding the files.
        files: Name -> path of each file written.
    """

    regimes: list[RegimeResult]
    num_fit_samples: int
    num_validation_samples: int
    budget_epochs: int | None
    budget_seconds: float | None
    workdir: Path
    files: dict[str, Path] = dataclasses.field(default_factory=dict)

    @property
    def target_loss(self) -> float:
        """A loss every regime reached: the highest of the regimes' best validation losses."""
        return max(min(point.val_loss for point in regime.curve) for regime in self.regimes)

    def to_dict(self) -> dict[str, Any]:
        """Returns JSON-native values, paths as strings."""
        values = dataclasses.asdict(self)
        values["workdir"] = str(self.workdir)
        values["files"] = {name: str(path) for name, path in self.files.items()}
        values["target_loss"] = self.target_loss
        for regime, row in zip(self.regimes, values["regimes"]):
            row["seconds_to_target_loss"] = regime.seconds_to_loss(self.target_loss)
        return values
