"""tecomp.extensions.image: ImagePopulation and VideoPopulation as ANNarchy's, and bad input.

Images are made with Pillow in tmp_path; the camera is a stand-in `cv2` module (no camera,
and OpenCV is not a test dependency) that records what tecomp asks of it.
"""

import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

import tecomp as ann
from tecomp.errors import InvalidTypeError, InvalidValueError, NetworkStateError, TecompWarning
from tecomp.extensions.convolution import Pooling
from tecomp.extensions.image import (
    CameraError,
    ImagePopulation,
    MissingDependencyError,
    VideoPopulation,
)
from tecomp.network import default_network


def picture(height: int = 6, width: int = 8) -> np.ndarray:
    """An RGB picture: gradients, and a bright square."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([255 * x / (width - 1), 255 * y / (height - 1),
                    255 * (x + y) / (width + height - 2)], axis=-1)
    rgb[1:3, 2:4] = 250
    return rgb.round().astype(np.uint8)


def save(path, array, mode: str | None = None) -> str:
    image = Image.fromarray(array)
    (image.convert(mode) if mode else image).save(path)
    return str(path)


# -- ImagePopulation ------------------------------------------------------------------------

def test_the_neuron_type_is_annarchys_a_parameter_r():
    pop = ImagePopulation(geometry=(6, 8))
    assert pop.neuron.parameters == {"r": 0.0}
    assert pop.neuron.variables == ()
    assert pop.attributes == ("r",)
    assert isinstance(pop, ann.Population)
    np.testing.assert_array_equal(pop.r, np.zeros((6, 8)))


def test_a_grayscale_geometry_takes_the_luminance(tmp_path):
    path = save(tmp_path / "rgb.png", picture())
    pop = ImagePopulation(geometry=(6, 8))
    pop.set_image(path)
    want = np.asarray(Image.open(path).convert("L")) / 255.0
    np.testing.assert_array_equal(pop.r, want)


def test_an_rgb_geometry_takes_the_three_channels(tmp_path):
    path = save(tmp_path / "rgb.png", picture())
    pop = ImagePopulation(geometry=(6, 8, 3))
    pop.set_image(path)
    np.testing.assert_array_equal(pop.r, picture() / 255.0)


def test_a_third_dimension_of_1_is_grayscale(tmp_path):
    pop = ImagePopulation(geometry=(6, 8, 1))
    assert pop.geometry == (6, 8)
    pop.set_image(save(tmp_path / "rgb.png", picture()))
    np.testing.assert_array_equal(pop.r, np.asarray(Image.open(tmp_path / "rgb.png")
                                                    .convert("L")) / 255.0)


@pytest.mark.parametrize("geometry", [(4, 5), (4, 5, 3)])
def test_an_image_of_another_size_is_resized_as_pillow_resizes_it(tmp_path, geometry):
    path = save(tmp_path / "big.png", picture(12, 16))
    pop = ImagePopulation(geometry=geometry)
    with pytest.warns(TecompWarning, match=r"size \(16, 12\).*\(5, 4\); it was resized"):
        pop.set_image(path)
    resized = Image.open(path).resize((5, 4))
    want = np.asarray(resized.convert("L" if len(geometry) == 2 else "RGB")) / 255.0
    np.testing.assert_array_equal(pop.r, want)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16", "CMYK"])
@pytest.mark.parametrize("geometry", [(6, 8), (6, 8, 3), (3, 4, 3)])
def test_any_pillow_mode_gives_rates_in_0_1(tmp_path, recwarn, mode, geometry):
    if mode == "I;16":
        path = str(tmp_path / "deep.png")
        Image.fromarray((np.arange(48).reshape(6, 8) * 1000).astype(np.uint16)).save(path)
    else:
        path = save(tmp_path / ("a.tif" if mode == "CMYK" else "a.png"), picture(), mode)
    pop = ImagePopulation(geometry=geometry)
    pop.set_image(path)
    assert pop.r.shape == geometry
    assert 0.0 <= pop.r.min() <= pop.r.max() <= 1.0
    resized = [w for w in recwarn if issubclass(w.category, TecompWarning)]
    assert len(resized) == (geometry[0] != 6)


def test_set_image_accepts_a_path_object_and_the_population_a_name_and_network(tmp_path):
    net = ann.Network()
    pop = ImagePopulation((6, 8, 3), name="retina", network=net)
    assert pop.name == "retina" and pop in net.populations
    assert pop not in default_network().populations
    save(tmp_path / "p.png", picture())
    pop.set_image(tmp_path / "p.png")
    np.testing.assert_array_equal(pop.r, picture() / 255.0)
    assert repr(pop) == "ImagePopulation((6, 8, 3), name='retina')"


def test_set_image_after_compile_feeds_the_next_step(tmp_path):
    image = ImagePopulation(geometry=(6, 8))
    pooled = ann.Population((3, 4), ann.Neuron(equations="r = sum(exc)"))
    Pooling(image, pooled, target="exc", operation="mean").connect_pooling()
    ann.compile()
    path = save(tmp_path / "rgb.png", picture())
    image.set_image(path)
    ann.simulate(1.0)
    rates = np.asarray(Image.open(path).convert("L")) / 255.0
    np.testing.assert_array_equal(image.r, rates)
    np.testing.assert_allclose(pooled.r, rates.reshape(3, 2, 4, 2).mean(axis=(1, 3)),
                               rtol=0, atol=1e-12)


def test_an_image_set_before_compile_is_the_starting_rate(tmp_path):
    pop = ImagePopulation(geometry=(6, 8, 3))
    pop.set_image(save(tmp_path / "rgb.png", picture()))
    ann.compile()
    np.testing.assert_array_equal(pop.r, picture() / 255.0)


def test_the_star_import_gives_the_two_populations():
    namespace: dict = {}
    exec("from tecomp.extensions.image import *", namespace)
    assert {k for k in namespace if not k.startswith("__")} == {"ImagePopulation",
                                                                "VideoPopulation"}


# -- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("geometry", [100, (100,), (4, 5, 2), (4, 5, 4), (2, 3, 4, 5),
                                      (1, 2, 3, 4, 5), (), np.int64(7)])
def test_a_geometry_that_is_no_image_is_refused_and_nothing_is_added(geometry):
    with pytest.raises(InvalidValueError, match=r"\(height, width\) for a grayscale image or "
                                                r"\(height, width, 3\)"):
        ImagePopulation(geometry=geometry)
    assert default_network().populations == []


@pytest.mark.parametrize("geometry, error", [((4, 0), InvalidValueError),
                                             ((4, 2.5), InvalidTypeError),
                                             ("image", InvalidTypeError),
                                             (None, InvalidTypeError)])
def test_a_geometry_of_bad_sizes_is_refused(geometry, error):
    with pytest.raises(error, match="ImagePopulation: "):
        ImagePopulation(geometry=geometry)
    assert default_network().populations == []


def without(monkeypatch, *modules: str) -> None:
    """Make `import module` fail as it does when the package is not installed."""
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)


def test_without_pillow_an_image_population_is_a_clear_error(monkeypatch):
    without(monkeypatch, "PIL", "PIL.Image")
    with pytest.raises(MissingDependencyError, match=r"ImagePopulation needs Pillow.*"
                                                     r"pip install 'tecomp\[image\]'"):
        ImagePopulation(geometry=(6, 8))
    assert default_network().populations == []
    with pytest.raises(ImportError):  # it is an ImportError too
        ImagePopulation(geometry=(6, 8))


def test_set_image_without_pillow_is_a_clear_error(monkeypatch, tmp_path):
    pop = ImagePopulation(geometry=(6, 8))
    path = save(tmp_path / "rgb.png", picture())
    without(monkeypatch, "PIL", "PIL.Image")
    with pytest.raises(MissingDependencyError, match="set_image needs Pillow"):
        pop.set_image(path)


def test_the_module_imports_without_pillow_or_opencv():
    code = ("import sys; sys.modules['PIL'] = sys.modules['PIL.Image'] = sys.modules['cv2'] = "
            "None\nfrom tecomp.extensions.image import *\n"
            "for cls in (ImagePopulation, VideoPopulation):\n"
            "    try: cls((2, 2))\n"
            "    except ImportError as err: print(type(err).__name__, err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "MissingDependencyError ImagePopulation needs Pillow" in out
    assert "MissingDependencyError VideoPopulation needs OpenCV" in out


def test_a_missing_file_a_folder_and_a_file_that_is_no_image(tmp_path):
    pop = ImagePopulation(geometry=(6, 8))
    pop.set_image(save(tmp_path / "rgb.png", picture()))
    before = pop.r
    with pytest.raises(InvalidValueError, match=r"the image '.*nowhere.png' does not exist"):
        pop.set_image(str(tmp_path / "nowhere.png"))
    with pytest.raises(InvalidValueError, match="is a folder, not an image file"):
        pop.set_image(str(tmp_path))
    (tmp_path / "notes.png").write_text("not an image at all")
    with pytest.raises(InvalidValueError, match="is not an image file that Pillow can read"):
        pop.set_image(str(tmp_path / "notes.png"))
    data = (tmp_path / "rgb.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:len(data) // 2])
    with pytest.raises(InvalidValueError, match="cannot be read"):
        pop.set_image(str(tmp_path / "cut.png"))
    np.testing.assert_array_equal(pop.r, before)  # a failed call changes nothing


@pytest.mark.parametrize("name", [None, 3, b"x.png", ["x.png"]])
def test_set_image_takes_a_path(name):
    pop = ImagePopulation(geometry=(6, 8))
    with pytest.raises(InvalidTypeError, match="set_image takes the path of an image file"):
        pop.set_image(name)


# -- VideoPopulation, with a stand-in cv2 ----------------------------------------------------

class FakeCV2(types.ModuleType):
    """What tecomp uses of OpenCV: VideoCapture, resize, cvtColor and its codes."""

    COLOR_BGR2GRAY, COLOR_BGRA2GRAY, COLOR_GRAY2RGB, COLOR_BGR2RGB, COLOR_BGRA2RGB = range(5)

    def __init__(self, cameras: dict):
        super().__init__("cv2")
        self.cameras, self.calls, self.captures = cameras, [], []
        fake = self

        class VideoCapture:
            def __init__(self, source):
                self.source, self.released = source, False
                self.frames = list(fake.cameras.get(source, []))
                fake.captures.append(self)

            def isOpened(self):
                return self.source in fake.cameras and not self.released

            def read(self):
                return (True, self.frames.pop(0)) if self.frames else (False, None)

            def release(self):
                self.released = True

        self.VideoCapture = VideoCapture

    def resize(self, frame, size):
        self.calls.append(("resize", size))
        width, height = size
        rows = np.arange(height) * frame.shape[0] // height
        cols = np.arange(width) * frame.shape[1] // width
        out = frame[rows][:, cols]
        return out[:, :, 0] if out.ndim == 3 and out.shape[2] == 1 else out

    def cvtColor(self, frame, code):
        self.calls.append(("cvtColor", code))
        if code in (self.COLOR_BGR2GRAY, self.COLOR_BGRA2GRAY):
            b, g, r = (frame[:, :, i].astype(np.float64) for i in range(3))
            return (0.299 * r + 0.587 * g + 0.114 * b).round().astype(frame.dtype)
        if code == self.COLOR_GRAY2RGB:
            return np.stack([frame] * 3, axis=-1)
        return frame[:, :, 2::-1]


def bgr(height: int = 12, width: int = 16, dtype=np.uint8) -> np.ndarray:
    return picture(height, width)[:, :, ::-1].astype(dtype)


@pytest.fixture
def cv2(monkeypatch):
    fake = FakeCV2({0: [bgr(), bgr()[::-1].copy()], "clip.avi": [bgr()]})
    monkeypatch.setitem(sys.modules, "cv2", fake)
    return fake


def test_without_opencv_a_video_population_names_the_package(monkeypatch):
    without(monkeypatch, "cv2")
    with pytest.raises(MissingDependencyError, match=r"VideoPopulation needs OpenCV's Python "
                                                     r"bindings \(the Python module 'cv2'\).*"
                                                     r"pip install opencv-python"):
        VideoPopulation(geometry=(6, 8))
    assert default_network().populations == []


def test_a_video_population_is_an_image_population(cv2):
    pop = VideoPopulation(geometry=(6, 8, 3), opencv_version="4", name="camera")
    assert isinstance(pop, ImagePopulation)
    assert pop.neuron.parameters == {"r": 0.0} and pop.opencv_version == "4"
    assert repr(pop) == "VideoPopulation((6, 8, 3), name='camera')"


def test_grab_image_resizes_and_converts_as_annarchy(cv2):
    gray, color = VideoPopulation(geometry=(6, 8)), VideoPopulation(geometry=(6, 8, 3))
    gray.start_camera(0)
    gray.grab_image()
    assert cv2.calls == [("resize", (8, 6)), ("cvtColor", FakeCV2.COLOR_BGR2GRAY)]
    small = cv2.resize(bgr(), (8, 6))
    np.testing.assert_array_equal(gray.r, cv2.cvtColor(small, FakeCV2.COLOR_BGR2GRAY) / 255.0)
    color.start_camera(0)
    color.grab_image()
    np.testing.assert_array_equal(color.r, small[:, :, ::-1] / 255.0)
    gray.grab_image()  # the next frame
    np.testing.assert_array_equal(
        gray.r, cv2.cvtColor(cv2.resize(bgr()[::-1], (8, 6)), 0) / 255.0)


@pytest.mark.parametrize("frame, geometry, code", [
    (bgr()[:, :, 0], (6, 8), None),
    (bgr()[:, :, :1], (6, 8), None),
    (bgr()[:, :, 0], (6, 8, 3), FakeCV2.COLOR_GRAY2RGB),
    (np.dstack([bgr(), np.full((12, 16), 255, np.uint8)]), (6, 8), FakeCV2.COLOR_BGRA2GRAY),
    (np.dstack([bgr(), np.full((12, 16), 255, np.uint8)]), (6, 8, 3), FakeCV2.COLOR_BGRA2RGB),
    (bgr(dtype=np.uint16) * 257, (6, 8, 3), FakeCV2.COLOR_BGR2RGB),
])
def test_gray_bgra_and_16_bit_frames(monkeypatch, frame, geometry, code):
    fake = FakeCV2({1: [frame]})
    monkeypatch.setitem(sys.modules, "cv2", fake)
    pop = VideoPopulation(geometry=geometry)
    pop.start_camera(1)
    pop.grab_image()
    assert [c for c in fake.calls if c[0] == "cvtColor"] == ([] if code is None else
                                                           [("cvtColor", code)])
    assert pop.r.shape == geometry and 0 <= pop.r.min() <= pop.r.max() <= 1
    if frame.dtype == np.uint16:  # v * 257 / 65535 == v / 255
        np.testing.assert_allclose(pop.r, fake.resize(bgr(), (8, 6))[:, :, ::-1] / 255.0,
                                   rtol=1e-15)


def test_a_video_file_opens_like_a_camera(cv2, tmp_path):
    pop = VideoPopulation(geometry=(6, 8))
    pop.start_camera("clip.avi")
    pop.grab_image()
    with pytest.raises(CameraError, match="gave no frame"):
        pop.grab_image()  # the end of the clip


def test_camera_errors(cv2):
    pop = VideoPopulation(geometry=(6, 8))
    with pytest.raises(NetworkStateError, match=r"call start_camera\(\) first"):
        pop.grab_image()
    with pytest.raises(CameraError, match="could not open the camera 7"):
        pop.start_camera(7)
    assert cv2.captures[-1].released  # the failed capture is not left open
    pop.start_camera(0)
    first = cv2.captures[-1]
    pop.start_camera(0)  # a second start releases the first camera
    assert first.released and not cv2.captures[-1].released
    pop.release()
    assert cv2.captures[-1].released
    pop.release()  # releasing twice is harmless
    with pytest.raises(NetworkStateError, match="needs an open camera"):
        pop.grab_image()


@pytest.mark.parametrize("port, error", [(True, InvalidTypeError), (1.5, InvalidTypeError),
                                         (None, InvalidTypeError), (-1, InvalidValueError)])
def test_bad_camera_ports(cv2, port, error):
    pop = VideoPopulation(geometry=(6, 8))
    with pytest.raises(error, match="camera_port must be"):
        pop.start_camera(port)


def test_bad_frames_and_versions(monkeypatch):
    fake = FakeCV2({0: [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4), np.float32)]})
    monkeypatch.setitem(sys.modules, "cv2", fake)
    pop = VideoPopulation(geometry=(6, 8))
    pop.start_camera()
    for _ in range(2):
        with pytest.raises(CameraError, match="expected 8 or 16-bit gray, BGR or BGRA"):
            pop.grab_image()
    with pytest.raises(InvalidTypeError, match="opencv_version must be a string"):
        VideoPopulation(geometry=(6, 8), opencv_version=4.0)
    with pytest.raises(InvalidValueError, match="third dimension must be 1"):
        VideoPopulation(geometry=(6, 8, 4))
