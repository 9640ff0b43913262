"""Reports a batch-size comparison: the table, CSV and JSON files, TensorBoard curves and PNG plots.

Plots are drawn on matplotlib's Agg canvas directly (no `pyplot`), so no display
is needed and the caller's matplotlib backend is left as it was.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from keras_minibatch.batch_sizes import tensorboard_curves
from keras_minibatch.batch_sizes.results import ComparisonResult, RegimeResult
from keras_minibatch.run_folders import run_files, rundir

COMPARISON_CSV = run_files.COMPARISON_CSV
CURVES_CSV = run_files.CURVES_CSV
COMPARISON_JSON = run_files.COMPARISON_JSON
TENSORBOARD_DIR = run_files.TENSORBOARD_DIR
_LOSS_VS_EPOCH, _LOSS_VS_UPDATES, _LOSS_VS_SECONDS = run_files.BATCH_SIZE_PLOTS
PLOTS = {
    _LOSS_VS_EPOCH: ("epoch", "epochs"),
    _LOSS_VS_UPDATES: ("updates", "updates (log scale)"),
    _LOSS_VS_SECONDS: ("seconds", "training seconds"),
}

# comparison.csv: one row per regime, these columns in this order.
SUMMARY_COLUMNS = (
    "batch_sizes_arg", "regime", "batch_size", "updates_per_epoch", "updates", "epochs", "train_seconds",
    "seconds_per_update", "seconds_per_epoch", "stopped_by", "final_val_loss", "final_val_accuracy",
    "best_val_loss", "seconds_to_target_loss", "test_loss", "test_accuracy", "initial_weights_sha256",
)
CURVE_COLUMNS = ("batch_size", "regime", "epoch", "updates", "seconds", "val_loss", "val_accuracy")


def summary_row(result: ComparisonResult, regime: RegimeResult) -> dict[str, object]:
    """Returns one regime's row of `comparison.csv` (and of the table), as numbers."""
    last = regime.curve[-1]
    return {
        "batch_sizes_arg": regime.label, "regime": regime.name, "batch_size": regime.batch_size,
        "updates_per_epoch": regime.updates_per_epoch, "updates": regime.updates, "epochs": regime.epochs,
        "train_seconds": regime.train_seconds, "seconds_per_update": regime.seconds_per_update,
        "seconds_per_epoch": regime.seconds_per_epoch, "stopped_by": regime.stopped_by,
        "final_val_loss": last.val_loss, "final_val_accuracy": last.val_accuracy,
        "best_val_loss": min(point.val_loss for point in regime.curve),
        "seconds_to_target_loss": regime.seconds_to_loss(result.target_loss),
        "test_loss": regime.test_loss, "test_accuracy": regime.test_accuracy,
        "initial_weights_sha256": regime.initial_weights_sha256,
    }


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1:
        return f"{value:,.2f}"
    return f"{value * 1e3:,.3g}ms" if value >= 1e-3 else f"{value * 1e6:,.3g}us"


def format_table(result: ComparisonResult) -> str:
    """Returns the comparison as an aligned text table with a one-line key below."""
    fastest_update = min(regime.seconds_per_update for regime in result.regimes)
    header = ("regime", "batch", "updates/epoch", "updates", "epochs", "s/update", "x fastest",
              "s/epoch", "train s", "s to target", "val_loss", "val_acc", "test_acc")
    rows = [header]
    for regime in result.regimes:
        row = summary_row(result, regime)
        rows.append((
            regime.name, f"{regime.batch_size:,}", f"{regime.updates_per_epoch:,}", f"{regime.updates:,}",
            f"{regime.epochs:.2f}", _seconds(regime.seconds_per_update),
            f"{regime.seconds_per_update / fastest_update:,.0f}x", _seconds(regime.seconds_per_epoch),
            f"{regime.train_seconds:.2f}", _seconds(row["seconds_to_target_loss"]),
            f"{row['final_val_loss']:.4f}", f"{row['final_val_accuracy']:.4f}", f"{regime.test_accuracy:.4f}",
        ))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                       for column, (cell, width) in enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    budget = [f"{result.budget_epochs} epochs"] if result.budget_epochs else []
    budget += [f"{result.budget_seconds:g} training seconds"] if result.budget_seconds else []
    lines.append(
        f"budget: {' or '.join(budget)} per regime, {result.num_fit_samples:,} training rows, "
        f"{result.num_validation_samples:,} validation rows; 'x fastest': time of one update relative to "
        f"the cheapest; 's to target': training seconds until val_loss <= {result.target_loss:.4f} "
        "(the worst regime's best); val_* at the end; test scored once per regime"
    )
    return "\n".join(lines)


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, object]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if value is None else repr(value) if isinstance(value, float) else value
                         for key, value in row.items()})
    return buffer.getvalue()


def write_comparison(result: ComparisonResult, workdir: Path) -> dict[str, Path]:
    """Writes the CSV files, the TensorBoard curves, the JSON file and the plots; returns name -> path."""
    files = {name: workdir / name for name in (COMPARISON_CSV, CURVES_CSV, COMPARISON_JSON, *PLOTS)}
    rundir.write_text_atomic(files[COMPARISON_CSV], _csv_text(
        SUMMARY_COLUMNS, [summary_row(result, regime) for regime in result.regimes]))
    curve_rows = [
        {"batch_size": regime.batch_size, "regime": regime.name, "epoch": point.epoch, "updates": point.updates,
         "seconds": point.seconds, "val_loss": point.val_loss, "val_accuracy": point.val_accuracy}
        for regime in result.regimes for point in regime.curve
    ]
    rundir.write_text_atomic(files[CURVES_CSV], _csv_text(CURVE_COLUMNS, curve_rows))
    files[TENSORBOARD_DIR] = workdir / TENSORBOARD_DIR
    result.files = files  # So comparison.json lists every file, itself included.
    rundir.write_json_atomic(files[COMPARISON_JSON], result.to_dict())
    for name, (x_key, x_label) in PLOTS.items():
        _plot(result, files[name], x_key=x_key, x_label=x_label)
    tensorboard_curves.write_curves(result, files[TENSORBOARD_DIR])  # Last: TensorFlow's writer is the least plain file.
    return files


def _plot(result: ComparisonResult, path: Path, *, x_key: str, x_label: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for regime in result.regimes:
        points = regime.curve
        if x_key == "updates":  # A log axis cannot show the starting point at 0.
            points = [point for point in points if point.updates > 0]
        axes.plot([getattr(point, x_key) for point in points], [point.val_loss for point in points],
                  marker="o", markersize=3, label=f"{regime.name} (batch {regime.batch_size:,})")
    if x_key == "updates":  # SGD makes thousands of times more updates than full batch.
        axes.set_xscale("log")
    axes.set_xlabel(x_label)
    axes.set_ylabel("validation loss")
    axes.set_title(f"Validation loss against {x_key}, same initial weights")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with rundir.atomic_path(path) as temp:
        figure.savefig(temp, format="png")
