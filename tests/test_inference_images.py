"""Reading images and bringing them to the training images' layout (`inference`): no model, no TensorFlow."""

import gzip

import numpy as np
import pytest
from PIL import Image, ImageDraw

from keras_minibatch import ConfigError, DataError
from keras_minibatch.data.array_checks import to_pixels
from keras_minibatch.inference.image_reading import read_arrays, read_image
from keras_minibatch.inference.input_files import check_paths, list_inputs
from keras_minibatch.inference.preprocessing import check_invert, looks_like_ink_on_paper, prepare_image
from keras_minibatch.inference.training_images import training_images_for

MNIST = training_images_for((28, 28), "mnist")
DIGITS = training_images_for((8, 8), "digits")


def mnist_images(folder, count=50):
    """The first `count` official MNIST test images (uint8, light on dark)."""
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as stream:
        return np.frombuffer(stream.read(), np.uint8, offset=16)[: count * 784].reshape(count, 28, 28)


def centre_of_mass(image):
    rows, columns = np.indices(image.shape)
    mass = image.astype(float).sum()
    return (rows * image).sum() / mass, (columns * image).sum() / mass


# Reading.

def test_palette_rgba_la_and_bilevel_images_become_grey_levels_on_white(tmp_path):
    palette = Image.new("P", (4, 2))
    palette.putpalette([0, 0, 0, 255, 255, 255, 255, 0, 0] + [0] * 759)
    palette.putdata([0, 1, 2, 1, 0, 1, 2, 1])
    palette.save(tmp_path / "palette.png")
    image = read_image(tmp_path / "palette.png")
    assert image.levels[0].tolist() == [0, 255, 76, 255] and not image.grey  # red has luminance 76 (ITU-R 601-2)
    transparent = Image.new("RGBA", (3, 1), (0, 0, 0, 0))
    transparent.putpixel((1, 0), (0, 0, 0, 255))
    transparent.putpixel((2, 0), (0, 0, 0, 128))
    transparent.save(tmp_path / "rgba.png")
    image = read_image(tmp_path / "rgba.png")
    assert image.levels[0].tolist() == [255, 0, 127] and image.grey  # composited on white paper
    Image.new("LA", (2, 2), (0, 0)).save(tmp_path / "la.png")
    assert read_image(tmp_path / "la.png").levels.tolist() == [[255, 255], [255, 255]]
    Image.new("1", (2, 1), 1).save(tmp_path / "bilevel.png")
    assert read_image(tmp_path / "bilevel.png").levels.tolist() == [[255, 255]]


def test_transparent_palette_gif_first_frame_and_16_bit_grey(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)
    palette.putdata([0, 1])
    palette.save(tmp_path / "transparent.png", transparency=1)
    assert read_image(tmp_path / "transparent.png").levels.tolist() == [[0, 255]]  # the transparent black is paper
    frames = [Image.new("L", (3, 3), 10), Image.new("L", (3, 3), 200)]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:])
    assert read_image(tmp_path / "two.gif").levels.mean() == pytest.approx(10)
    Image.fromarray(np.array([[0, 65535, 32896]], dtype=np.uint16)).save(tmp_path / "deep.png")
    image = read_image(tmp_path / "deep.png")
    assert image.grey and image.levels[0].tolist() == pytest.approx([0, 255, 128], abs=0.01)


def test_exif_orientation_turns_a_photo_upright(tmp_path):
    pixels = np.zeros((2, 3), np.uint8)
    pixels[0, 0] = 255
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # Rotated 90 degrees clockwise when shown.
    image.save(tmp_path / "photo.jpg", exif=exif, quality=100)
    assert read_image(tmp_path / "photo.jpg").levels.shape == (3, 2)


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20])
def test_an_unreadable_image_is_a_data_error_naming_it(tmp_path, content):
    (tmp_path / "broken.png").write_bytes(content)
    with pytest.raises(DataError, match=r"^cannot read image '.*broken\.png': "):
        read_image(tmp_path / "broken.png")


def test_an_image_over_pillows_bomb_limit_is_refused_not_read(tmp_path, monkeypatch):
    Image.new("L", (40, 40)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataError, match=r"big\.png'.*DecompressionBomb"):
        read_image(tmp_path / "big.png")


def test_arrays_are_read_from_npy_and_npz_on_the_loaders_scale(tmp_path):
    x = np.random.default_rng(0).random((3, 5, 5))
    np.save(tmp_path / "unit.npy", x)
    assert np.array_equal(read_arrays(tmp_path / "unit.npy"), to_pixels(x, "x", None))
    np.save(tmp_path / "one.npy", (x[0] * 255).astype(np.uint8)[..., None])
    assert read_arrays(tmp_path / "one.npy").shape == (1, 5, 5)
    np.savez(tmp_path / "named.npz", x=(x * 255).astype(np.uint8), y=np.arange(3))
    assert read_arrays(tmp_path / "named.npz").shape == (3, 5, 5)
    np.savez(tmp_path / "only.npz", images=(x * 255).astype(np.uint8))
    assert read_arrays(tmp_path / "only.npz").shape == (3, 5, 5)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(DataError, match=r"holds arrays \['a', 'b'\]; predict reads the array named x"):
        read_arrays(tmp_path / "two.npz")
    np.save(tmp_path / "negative.npy", -x)
    with pytest.raises(DataError, match=r"negative\.npy' has pixel values from"):
        read_arrays(tmp_path / "negative.npy")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"cannot read '.*junk\.npz' as a NumPy"):
        read_arrays(tmp_path / "junk.npz")


# Which files.

def test_folders_are_listed_sorted_and_their_other_entries_counted(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("b.PNG", "a.jpg", "notes.txt", "c.gif"):
        (folder / name).write_bytes(b"")
    (folder / "sub").mkdir()
    (tmp_path / "x.npz").write_bytes(b"")
    listing = list_inputs([str(tmp_path / "x.npz"), folder])
    assert [path.name for path in listing.files] == ["x.npz", "a.jpg", "b.PNG", "c.gif"]
    assert listing.skipped == ((folder, 2),)


def test_missing_paths_and_folders_without_images_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"^predict needs at least one PATH"):
        check_paths([])
    with pytest.raises(DataError, match=r"^PATH '.*nope\.png' does not exist \(and 1 more missing\); give an image file"):
        list_inputs([tmp_path / "nope.png", tmp_path / "nope2.png"])
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(DataError, match=r"holds no images"):
        list_inputs([tmp_path])


# Which way round.

def test_invert_accepts_auto_true_false_only():
    assert [check_invert(value) for value in ("auto", "TRUE", "false", True)] == ["auto", True, False, True]
    with pytest.raises(ConfigError, match=r"`invert` \('maybe'\) must be one of: auto, true, false"):
        check_invert("maybe")


def test_auto_inversion_tells_ink_on_paper_from_mnist_digits(mnist_t10k_dir):
    images = mnist_images(mnist_t10k_dir).astype(np.float32)
    assert not any(looks_like_ink_on_paper(image) for image in images)
    assert all(looks_like_ink_on_paper(255 - image) for image in images)
    page = np.full((60, 90), 230.0)
    page[:, 5:40] -= 60 * np.linspace(0, 1, 35)  # unevenly lit
    page[0:30, 2:6] = 20  # ink touching the border, far from the centre
    assert looks_like_ink_on_paper(page)


# Into the layout.

def test_a_grey_image_of_the_models_size_keeps_its_geometry(mnist_t10k_dir):
    for image in mnist_images(mnist_t10k_dir, 10):
        pixels, inverted = prepare_image(image.astype(np.float32), grey=True, layout=MNIST, invert="auto", where="x")
        assert np.array_equal(pixels, image) and not inverted
        pixels, inverted = prepare_image(255 - image.astype(np.float32), grey=True, layout=MNIST, invert="auto", where="x")
        assert np.array_equal(pixels, image) and inverted
    shifted = np.roll(mnist_images(mnist_t10k_dir, 1)[0], 3, axis=1).astype(np.float32)
    kept, _ = prepare_image(shifted, grey=True, layout=MNIST, invert=False, where="x")
    assert np.array_equal(kept, shifted)
    made_again, _ = prepare_image(shifted, grey=False, layout=MNIST, invert=False, where="x")  # a coloured image is made as MNIST was
    assert centre_of_mass(made_again) == pytest.approx((14, 14), abs=0.5) and centre_of_mass(kept)[1] > 16


def test_ink_is_cropped_scaled_into_the_box_keeping_its_aspect_and_centred_by_mass():
    page = np.full((300, 200), 250.0)
    page[40:240, 120:170] = 10.0  # a dark bar, 200 x 50, off-centre
    pixels, inverted = prepare_image(page, grey=True, layout=MNIST, invert="auto", where="page")
    assert inverted and pixels.dtype == np.uint8
    rows, columns = np.nonzero(pixels >= 0.5 * 255)
    assert rows.max() - rows.min() + 1 == 20 and columns.max() - columns.min() + 1 == 5
    assert centre_of_mass(pixels) == pytest.approx((14, 14), abs=0.5)


def test_mnist_digits_made_again_from_upscaled_copies_are_nearly_themselves(mnist_t10k_dir):
    correlations = []
    for image in mnist_images(mnist_t10k_dir, 50):
        big = np.asarray(Image.fromarray(image).resize((84, 84), Image.Resampling.BICUBIC), dtype=np.float32)
        pixels, inverted = prepare_image(big, grey=False, layout=MNIST, invert="auto", where="x")
        assert not inverted
        correlations.append(np.corrcoef(pixels.ravel(), image.ravel())[0, 1])
    assert np.mean(correlations) > 0.9 and np.min(correlations) > 0.5


def test_paper_unevenly_lit_is_taken_away_before_cropping():
    page = np.tile(np.linspace(120, 250, 200, dtype=np.float32), (200, 1))  # light from the right
    page[60:140, 90:110] = 20.0
    pixels, _ = prepare_image(page, grey=True, layout=MNIST, invert="auto", where="page")
    rows, columns = np.nonzero(pixels)
    assert rows.max() - rows.min() + 1 <= 21 and columns.max() - columns.min() + 1 <= 7


def test_blank_paper_is_an_empty_field():
    pixels, _ = prepare_image(np.full((50, 50), 240.0), grey=True, layout=MNIST, invert=True, where="x")
    assert not pixels.any()


def test_digits_models_get_the_digits_layout_and_its_17_levels():
    assert (DIGITS.box, DIGITS.centre, DIGITS.pixel_scale) == (8, (3.5, 3.5), 16.0)
    assert training_images_for((8, 8), None) == DIGITS
    page = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(page).ellipse((20, 20, 100, 140), outline=0, width=14)
    pixels, inverted = prepare_image(np.asarray(page, np.float32), grey=True, layout=DIGITS, invert="auto", where="x")
    assert inverted and pixels.shape == (8, 8)
    levels = to_pixels(np.arange(17)[None, None], "levels", 16.0).ravel()
    assert set(np.unique(pixels)) <= set(levels.tolist())
    rows, _ = np.nonzero(pixels)
    assert rows.max() - rows.min() + 1 == 8  # the digits fill their field's height


def test_other_sources_get_their_layouts():
    fashion = training_images_for((28, 28), "fashion_mnist")
    assert (fashion.box, fashion.centre) == (28, None)
    generic = training_images_for((56, 56), "/data/my-idx-folder")
    assert (generic.box, generic.centre, generic.pixel_scale) == (40, (28.0, 28.0), 255.0)
    assert training_images_for((28, 28), None) == MNIST
