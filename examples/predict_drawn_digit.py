"""Draw a digit with Pillow on white paper, save it as a PNG file, and classify it with a trained model.

Run:  python examples/predict_drawn_digit.py RUN_FOLDER_OR_MODEL_FILE [DIGIT_PNG]

What a photo or scan of your own handwriting goes through: `predict` finds the dark
ink on the light paper (and inverts it: MNIST is light on dark), crops it, scales it
into the box MNIST's digits fill and centres it as they are. Train a model on MNIST
first, e.g. `keras-minibatch train --dataset=../shared/data/mnist-t10k`.
"""

import sys

from PIL import Image, ImageDraw

from keras_minibatch import predict

# A seven as a pen would write it: a bar and a slanted stroke, on a 240x300 page.
SEVEN = [(50, 60), (195, 55), (115, 265)]


def draw_seven(path: str) -> str:
    page = Image.new("RGB", (240, 300), "white")
    ImageDraw.Draw(page).line(SEVEN, fill=(20, 20, 60), width=18, joint="curve")
    page.save(path)
    return path


def main(model: str, image_path: str = "my_digit.png") -> int:
    predictions = predict(model, draw_seven(image_path))
    (row,) = predictions.rows
    runners_up = ", ".join(f"{digit} ({probability:.2f})" for digit, probability in row.runners_up())
    print(f"{row.path}: {row.predicted_class} with probability {row.probability:.2f}; next {runners_up}"
          + (" (inverted: dark ink on light paper)" if row.inverted else ""))
    return row.predicted_class


if __name__ == "__main__":
    main(*sys.argv[1:])
