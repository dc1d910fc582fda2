"""ANNarchy's example "Image Processing" (examples/image/Image.ipynb, the docs' notebook
"Convolutions and pooling"), run on tecomp, every layer checked against NumPy.

`image_processing()` is the notebook's code, cell by cell, as the ANNarchy 5 docs write it
(`import ANNarchy as ann`); only its import lines are changed. It reads 'test.jpg' from the
current folder, as ANNarchy's does; the test makes that file with Pillow (gradients and a
few shapes, 800x600, so that it is resized to the 640x480 population) and runs the example
in that folder. The expected rates are computed with Pillow's own resize and
tecomp.reference, step by step, so the input is compared exactly and every layer within the
reference tolerance.
"""

import matplotlib
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tecomp.errors import TecompWarning
from tecomp.reference import convolution, pooling
from tests.helpers import assert_close

matplotlib.use("Agg")  # the notebook plots; nothing is shown here


def image_processing():
    """The notebook's code (imports changed only)."""
    import numpy as np

    import tecomp as ann
    from tecomp.extensions.convolution import Convolution, Pooling
    from tecomp.extensions.image import ImagePopulation
    ann.clear()

    image = ImagePopulation(geometry=(480, 640, 3))

    # Simple ANN
    LinearNeuron = ann.Neuron(equations="r=sum(exc): min=0.0")

    # Subsampling population
    pooled = ann.Population(geometry=(48, 64, 3), neuron = LinearNeuron)

    # Mean-pooling projection
    pool_proj = Pooling(pre=image, post=pooled, target='exc', operation='mean')
    pool_proj.connect_pooling()

    # Smoothing population
    smoothed = ann.Population(geometry=(48, 64, 3), neuron = LinearNeuron)

    # Box filter projection
    box_filter = np.ones((3, 3, 1))/9.
    smooth_proj = Convolution(pre=pooled, post=smoothed, target='exc')
    smooth_proj.connect_filter(weights=box_filter)

    # Convolution population
    filtered = ann.Population(geometry=(48, 64, 3), neuron = LinearNeuron)

    # Red/Green/Blue filter bank
    filter_bank = np.array([
        [[ [2.0, -1.0, -1.0] ]] , # Red filter
        [[ [-1.0, 2.0, -1.0] ]] , # Blue filter
        [[ [-1.0, -1.0, 2.0] ]]   # Green filter
    ])
    filter_proj = Convolution(pre=smoothed, post=filtered, target='exc')
    filter_proj.connect_filters(weights=filter_bank)

    ann.compile()

    image.set_image('test.jpg')

    ann.simulate(4.0)

    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(20.0, 20.0))

    plt.subplot(532)
    plt.imshow(image.r)
    plt.title('Original')

    plt.subplot(534)
    plt.imshow(image.r[:,:,0], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('image R')
    plt.subplot(535)
    plt.imshow(image.r[:,:,1], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('image G')
    plt.subplot(536)
    plt.imshow(image.r[:,:,2], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('image B')

    plt.subplot(537)
    plt.imshow(pooled.r[:,:,0], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('pooled R')
    plt.subplot(538)
    plt.imshow(pooled.r[:,:,1], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('pooled G')
    plt.subplot(539)
    plt.imshow(pooled.r[:,:,2], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('pooled B')

    plt.subplot(5, 3, 10)
    plt.imshow(smoothed.r[:,:,0], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('smoothed R')
    plt.subplot(5, 3, 11)
    plt.imshow(smoothed.r[:,:,1], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('smoothed G')
    plt.subplot(5, 3, 12)
    plt.imshow(smoothed.r[:,:,2], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('smoothed B')

    plt.subplot(5, 3, 13)
    plt.imshow(filtered.r[:,:,0], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('filtered R')
    plt.subplot(5, 3, 14)
    plt.imshow(filtered.r[:,:,1], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('filtered G')
    plt.subplot(5, 3, 15)
    plt.imshow(filtered.r[:,:,2], cmap='gray', interpolation='nearest', vmin= 0.0, vmax=1.0)
    plt.title('filtered B')

    plt.show()

    plt.close(fig)  # (not the notebook's: the test runs it twice)
    return image, pooled, smoothed, filtered, box_filter, filter_bank


def make_picture(path, file_format: str) -> None:
    """800x600: colour gradients, a red disc, a green bar, a blue square, a dark triangle."""
    y, x = np.mgrid[0:600, 0:800]
    rgb = np.stack([255 * x / 799, 255 * y / 599, 255 * (1 - x / 799) * (y / 599)], axis=-1)
    picture = Image.fromarray(rgb.round().astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((100, 80, 300, 280), fill=(240, 20, 20))
    draw.rectangle((420, 60, 470, 540), fill=(10, 230, 30))
    draw.rectangle((520, 320, 740, 540), fill=(20, 30, 250))
    draw.polygon([(60, 560), (360, 560), (210, 340)], fill=(15, 15, 15))
    picture.save(path, format=file_format, **({"quality": 95} if file_format == "JPEG" else {}))


@pytest.mark.filterwarnings("ignore:FigureCanvasAgg is non-interactive:UserWarning")
@pytest.mark.parametrize("file_format", ["PNG", "JPEG"])
def test_the_image_processing_example(tmp_path, monkeypatch, recwarn, file_format):
    make_picture(tmp_path / "test.jpg", file_format)  # Pillow reads the format, not the name
    monkeypatch.chdir(tmp_path)

    image, pooled, smoothed, filtered, box_filter, filter_bank = image_processing()

    # the image, resized by Pillow from 800x600 to the population's 640x480 (with a warning)
    assert [str(w.message) for w in recwarn if issubclass(w.category, TecompWarning)] == [
        f"ImagePopulation {image.name}: the image 'test.jpg' has the size (800, 600) (width, "
        "height), not the population's (640, 480); it was resized"]
    rgb = np.asarray(Image.open(tmp_path / "test.jpg").resize((640, 480)).convert("RGB")) / 255.
    np.testing.assert_array_equal(image.r, rgb)

    # each layer: r = sum(exc) with min = 0.0, after the four steps of the notebook
    want_pooled = np.maximum(pooling(rgb, (48, 64, 3), operation="mean"), 0.0)
    want_smoothed = np.maximum(convolution(want_pooled, box_filter, (48, 64, 3)), 0.0)
    want_filtered = np.maximum(convolution(want_smoothed, filter_bank, (48, 64, 3), bank=True),
                               0.0)
    assert_close(pooled.r, want_pooled)
    assert_close(smoothed.r, want_smoothed)
    assert_close(filtered.r, want_filtered)

    # the picture exercises what the layers do: shapes and colours survive pooling, the
    # borders see the zero padding, and the colour filters are clipped at 0 somewhere
    assert pooled.r[14, 16, 0] > 0.8 and pooled.r[14, 16, 1] < 0.2  # inside the red disc
    assert smoothed.r[-1, -1].max() < pooled.r[-2:, -2:].mean(axis=(0, 1)).max()
    assert (want_filtered == 0).mean() > 0.2 and (want_filtered > 0.5).any()
    assert filtered.r[14, 16, 0] > 1.0 and filtered.r[14, 16, 1] == 0.0  # red, not green
