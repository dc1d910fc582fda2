"""Images and camera frames as rates, as in ANNarchy's `ANNarchy.extensions.image`.

    import tecomp as ann
    from tecomp.extensions.image import *          # ImagePopulation, VideoPopulation

An `ImagePopulation` is a population of the neuron type ANNarchy gives it,
`Neuron(parameters="r = 0.0")`: one neuron per pixel (and per colour channel) whose rate `r`
is the pixel's value divided by 255, in [0, 1]. Its geometry is (height, width) for a
grayscale image, or (height, width, 3) for RGB; (height, width, 1) is taken as (height,
width), as ANNarchy does. `set_image` reads a file with Pillow (`pip install 'tecomp[image]'`),
resizes it to the geometry with Pillow's default filter if its size differs (with a warning,
as ANNarchy), and keeps the luminance only for a grayscale geometry.

A `VideoPopulation` is an ImagePopulation fed by a camera through OpenCV's Python bindings
(`pip install opencv-python`): `start_camera(port)`, `grab_image()` and `release()`.

Pillow and OpenCV are optional: this module imports without them, and the class that needs
one raises `MissingDependencyError` (a tecomp error and an ImportError) when it is built.
"""

import importlib
import os
import warnings

import numpy as np

from ..errors import (
    InvalidTypeError,
    InvalidValueError,
    NetworkStateError,
    TecompError,
    TecompWarning,
)
from ..network import Network
from ..neuron import Neuron
from ..population import Population, check_geometry
from ..values import show

__all__ = ["ImagePopulation", "VideoPopulation"]

# Most values an integer frame of a camera can hold, by dtype (rates are value / most).
_FRAME_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class MissingDependencyError(TecompError, ImportError):
    """An optional package that a tecomp feature needs is not installed."""


class CameraError(TecompError, OSError):
    """A camera could not be opened, or gave no frame."""


def _require(module: str, package: str, who: str, install: str):
    """Import an optional module, or raise MissingDependencyError naming the package."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{who} needs {package} (the Python module {module!r}), which cannot be imported "
            f"({err}); install it with: {install}") from None


def _pillow(who: str):
    return _require("PIL.Image", "Pillow", who, "pip install 'tecomp[image]' (or Pillow)")


def _opencv(who: str):
    return _require("cv2", "OpenCV's Python bindings", who,
                    "pip install opencv-python (or opencv-python-headless)")


def _image_geometry(geometry, who: str) -> tuple[int, ...]:
    """(height, width) or (height, width, 3); (height, width, 1) becomes (height, width)."""
    rule = ("an ImagePopulation's geometry must be (height, width) for a grayscale image or "
            "(height, width, 3) for an RGB one ((height, width, 1) is taken as grayscale)")
    if (isinstance(geometry, tuple | list) and len(geometry) not in (2, 3)) or \
            (isinstance(geometry, int | np.integer) and not isinstance(geometry, bool)):
        raise InvalidValueError(f"{who}: {rule}, got {show(geometry)}")
    geometry = check_geometry(geometry, who)
    if len(geometry) == 3 and geometry[2] not in (1, 3):
        raise InvalidValueError(f"{who}: {rule}; the third dimension must be 1 (grayscale) or "
                                f"3 (RGB), got {show(geometry)}")
    return geometry[:2] if len(geometry) == 3 and geometry[2] == 1 else geometry


class ImagePopulation(Population):
    """A population whose rates are an image's pixels, in [0, 1] (ANNarchy's ImagePopulation).

    `geometry` is (height, width) for the luminance of the image, (height, width, 3) for its
    RGB values; `set_image(path)` loads any file Pillow reads, resized to the geometry.

    >>> import os, tempfile
    >>> import numpy as np, tecomp as ann
    >>> from PIL import Image
    >>> ann.clear()
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "ramp.png")
    >>> Image.fromarray(np.arange(0, 240, 20, dtype=np.uint8).reshape(3, 4)).save(path)
    >>> pop = ImagePopulation(geometry=(3, 4))
    >>> pop.set_image(path)
    >>> pop.r[1] * 255
    array([ 80., 100., 120., 140.])
    >>> folder.cleanup()
    """

    def __init__(self, geometry: tuple[int, ...], name: str | None = None,
                 network: Network | None = None):
        who = type(self).__name__
        geometry = _image_geometry(geometry, who)
        self._check_dependencies(who)
        object.__setattr__(self, "_camera", None)
        super().__init__(geometry, Neuron(parameters="r = 0.0"), name=name, network=network)

    def _check_dependencies(self, who: str) -> None:
        _pillow(who)

    def set_image(self, image_name: str | os.PathLike) -> None:
        """Set the rates to the image in that file (.png, .jpg or any format Pillow reads).

        An image of another size than the population is resized to it (with a warning);
        a grayscale population takes the image's luminance ("L" in Pillow), an RGB one its
        red, green and blue values. Each rate is the 8-bit value divided by 255 (as in
        ANNarchy, Pillow's conversion to 8 bits clips the values of a 16-bit image)."""
        who = f"{type(self).__name__} {self.name}"
        image = _pillow(f"{who}: set_image")
        if not isinstance(image_name, str | os.PathLike):
            raise InvalidTypeError(f"{who}: set_image takes the path of an image file, got "
                                   f"{show(image_name)} ({type(image_name).__name__})")
        path = os.fspath(image_name)
        if not os.path.exists(path):
            raise InvalidValueError(f"{who}: the image {path!r} does not exist")
        if os.path.isdir(path):
            raise InvalidValueError(f"{who}: {path!r} is a folder, not an image file")
        height, width = self.geometry[:2]
        try:
            with image.open(path) as opened:
                size = opened.size
                # as ANNarchy: resized (Pillow's default filter) before the colour conversion
                im = opened if size == (width, height) else opened.resize((width, height))
                pixels = np.asarray(im.convert("L" if self.dimension == 2 else "RGB"))
        except image.UnidentifiedImageError:
            raise InvalidValueError(f"{who}: {path!r} is not an image file that Pillow can "
                                    "read") from None
        except Exception as err:  # a truncated or corrupt file fails in its decoder
            raise InvalidValueError(f"{who}: the image {path!r} cannot be read "
                                    f"({type(err).__name__}: {err})") from None
        if size != (width, height):
            warnings.warn(f"{who}: the image {path!r} has the size {size} (width, height), "
                          f"not the population's {(width, height)}; it was resized",
                          TecompWarning, stacklevel=2)
        self.r = pixels / 255.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.geometry}, name={self.name!r})"


class VideoPopulation(ImagePopulation):
    """An ImagePopulation fed by a camera through OpenCV (ANNarchy's VideoPopulation).

    Each `grab_image()` reads one frame, resizes it to the geometry (OpenCV's default
    linear interpolation) and sets the rates to its luminance (geometry (height, width)) or
    RGB values (geometry (height, width, 3)), divided by 255. It needs OpenCV's Python
    bindings (`pip install opencv-python`); without them, building one is an error. As in
    ANNarchy::

        pop = VideoPopulation(geometry=(480, 640))
        ann.compile()
        pop.start_camera(0)
        while True:
            pop.grab_image()
            ann.simulate(10.0)

    `opencv_version` is accepted for ANNarchy scripts (ANNarchy links OpenCV's C++ library
    with it); tecomp uses whatever OpenCV the `cv2` module is.
    """

    def __init__(self, geometry: tuple[int, ...], opencv_version: str = "4",
                 name: str | None = None, network: Network | None = None):
        if isinstance(opencv_version, bool) or not isinstance(opencv_version, str | int):
            raise InvalidTypeError(f"VideoPopulation: opencv_version must be a string such as "
                                   f"'4', got {show(opencv_version)}")
        super().__init__(geometry, name=name, network=network)
        object.__setattr__(self, "opencv_version", str(opencv_version))

    def _check_dependencies(self, who: str) -> None:
        _opencv(who)

    def start_camera(self, camera_port: int | str = 0) -> None:
        """Open the camera: a device number (on Linux, N of /dev/videoN; default 0), or
        anything else `cv2.VideoCapture` opens, such as the path of a video file. A camera
        opened before by this population is released first."""
        who = f"VideoPopulation {self.name}"
        cv2 = _opencv(f"{who}: start_camera")
        if isinstance(camera_port, bool) or not isinstance(camera_port,
                                                           int | np.integer | str | os.PathLike):
            raise InvalidTypeError(f"{who}: camera_port must be a device number (0 for "
                                   f"/dev/video0) or a path, got {show(camera_port)}")
        if isinstance(camera_port, int | np.integer) and camera_port < 0:
            raise InvalidValueError(f"{who}: camera_port must be a device number >= 0, got "
                                    f"{camera_port}")
        source = int(camera_port) if isinstance(camera_port, int | np.integer) else \
            os.fspath(camera_port)
        self.release()
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            capture.release()
            raise CameraError(f"{who}: could not open the camera {source!r}")
        object.__setattr__(self, "_camera", capture)

    def grab_image(self) -> None:
        """Read one frame from the camera and set the rates to it."""
        who = f"VideoPopulation {self.name}"
        cv2 = _opencv(f"{who}: grab_image")
        if self._camera is None:
            raise NetworkStateError(f"{who}: grab_image() needs an open camera; call "
                                    "start_camera() first")
        ok, frame = self._camera.read()
        if not ok or frame is None:
            raise CameraError(f"{who}: the camera gave no frame (it may be unplugged, busy, "
                              "or at the end of a video file)")
        frame = np.asarray(frame)
        scale = _FRAME_SCALE.get(frame.dtype)
        if scale is None or frame.ndim not in (2, 3) or \
                (frame.ndim == 3 and frame.shape[2] not in (1, 3, 4)):
            raise CameraError(f"{who}: the camera gave a frame of shape {frame.shape} and "
                              f"dtype {frame.dtype}; expected 8 or 16-bit gray, BGR or BGRA")
        height, width = self.geometry[:2]
        frame = np.asarray(cv2.resize(frame, (width, height)))
        if frame.ndim == 3 and frame.shape[2] == 1:
            frame = frame[:, :, 0]
        if self.dimension == 2 and frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if frame.shape[2] == 3 else
                                 cv2.COLOR_BGRA2GRAY)
        elif self.dimension == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB if frame.ndim == 2 else
                                 cv2.COLOR_BGR2RGB if frame.shape[2] == 3 else
                                 cv2.COLOR_BGRA2RGB)
        self.r = np.asarray(frame, dtype=np.float64) / scale

    def release(self) -> None:
        """Release the camera (nothing happens when none is open)."""
        camera = self._camera
        object.__setattr__(self, "_camera", None)
        if camera is not None:
            camera.release()
