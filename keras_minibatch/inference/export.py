"""`export_model`: a trained model as a TensorFlow SavedModel (TF Serving, `tf.saved_model.load`) or a TFLite file.

Both take what `model.keras` takes (for the models `train` makes: raw uint8 pixels
0..255, `(batch, height, width)`, light ink on a dark field) and give its class
probabilities. The SavedModel is Keras' `model.export`, whose `serving_default`
signature TF Serving calls; the TFLite file is TensorFlow's converter applied to
that SavedModel. Where they are written, and what may be replaced, is `export_target`'s.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

from keras_minibatch.inference.export_target import check_export_target, write_saved_model_folder, write_tflite_file
from keras_minibatch.inference.output_folder import make_parent_folder
from keras_minibatch.inference.image_model import ImageModel, load_image_model
from keras_minibatch.quiet import quiet_stderr

SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote.

    Attributes:
        path: The SavedModel folder or the TFLite file.
        format: `"saved_model"` or `"tflite"`.
        model: The model file it was made from.
        input: The input to feed: its name in the `serving_default` signature, dtype, shape and scale.
        output: The output: its name, dtype, shape and meaning.
    """

    path: Path
    format: str
    model: str
    input: str
    output: str


def _save_saved_model(image_model: ImageModel, folder: Path) -> tuple[str, str]:
    """Writes the SavedModel into `folder`; returns the descriptions of its signature's input and output."""
    import tensorflow as tf

    image_model.model.export(str(folder), format="tf_saved_model", verbose=False)
    signature = tf.saved_model.load(str(folder)).signatures[SIGNATURE]
    (input_name, input_spec), = signature.structured_input_signature[1].items()
    (output_name, output_spec), = signature.structured_outputs.items()
    batch = ", ".join(["batch", *map(str, output_spec.shape[1:])])
    return f"{input_name}: {image_model.describe_input(input_spec.dtype.name)}", f"{output_name}: {output_spec.dtype.name} ({batch}), class probabilities"


def export_model(model: Any, output: str | os.PathLike, *, format: str, overwrite: bool = False) -> ExportResult:
    """Exports a trained model for serving, as a SavedModel folder or a TFLite file.

    Args:
        model: A run folder, a `.keras` file, or a `keras.Model`.
        output: The SavedModel folder or the TFLite file to write.
        format: `"saved_model"` or `"tflite"`.
        overwrite: Whether an export keras-minibatch wrote at `output` may be
            replaced (nothing else ever is). Defaults to `False`.

    Returns:
        The `ExportResult`, which says what the export takes and gives.

    Raises:
        ConfigError: for an unknown `format` or an `output` of the wrong kind.
        RunDirError: when `output` exists and may not be replaced, or cannot be written.
        DataError: when the model cannot be loaded or does not classify images.
    """
    check_export_target(output, format, overwrite=overwrite)
    image_model = load_image_model(model)
    marker = {"model": image_model.name, "signature": SIGNATURE}

    def save(folder: Path) -> None:
        with quiet_stderr():
            marker["input"], marker["output"] = _save_saved_model(image_model, folder)

    path = Path(output)
    if format == "saved_model":
        write_saved_model_folder(path, save, marker)  # Writes the marker after `save`, with its descriptions.
    else:
        import tensorflow as tf

        make_parent_folder(path)
        with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp") as scratch:
            save(Path(scratch) / "saved_model")
            with quiet_stderr():
                data = tf.lite.TFLiteConverter.from_saved_model(str(Path(scratch) / "saved_model")).convert()
        write_tflite_file(path, data, marker)
    return ExportResult(path=path, format=format, model=image_model.name, input=marker["input"], output=marker["output"])
