"""ANNarchy's random distributions (`Uniform`, `Normal`, ...), NumPy only.

The classes keep ANNarchy 5.0.4.1's names, constructor parameters and defaults
(`ANNarchy/core/Random.py`), so a script's ``pop.r = Normal(0.0, 1.0, min=0.0)`` or
``Gamma(2.0)`` means what it means there. Each distribution serves twice:

- as a *value*: `get_values(shape, rng)` draws float64 values with NumPy's Generator, like
  ANNarchy's Python side (initial values, weights);
- as an *in-equation draw*: `kind` and `parameters` (a hashable tuple, None where a clip
  bound is absent) describe it for a compiled kernel, which draws with the counter-based
  generator of `tecomp.philox` (`draw_te`; `draw_numpy` is the NumPy twin).

Where tecomp departs from ANNarchy 5.0.4.1, on purpose:

- `Exponential(Lambda)`: ANNarchy documents ``Lambda`` as the rate (density
  ``Lambda * exp(-Lambda x)``, and its C++ side uses ``std::exponential_distribution(Lambda)``,
  a rate), but its Python side calls ``rng.exponential(self.Lambda)``, where NumPy reads a
  *scale*: initial values have mean ``Lambda`` while in-equation draws have mean
  ``1/Lambda``. tecomp uses the rate everywhere (mean ``1/Lambda``). ``Lambda = 0`` is
  refused (ANNarchy refuses only ``Lambda < 0``; the C++ distribution needs ``Lambda > 0``).
- `Gamma(alpha, beta)`: ANNarchy checks nothing; tecomp requires ``alpha > 0`` and
  ``beta > 0``, the domain of both NumPy's and C++'s gamma. ``beta`` is the scale (mean
  ``alpha * beta``) in ANNarchy's NumPy and C++ sides alike, and so here.
- `DiscreteUniform`: ANNarchy returns NumPy integers; tecomp returns float64 (every tecomp
  variable is a float) holding whole numbers in ``[min, max]`` (both bounds included, like
  ``rng.integers(min, max + 1)`` and ``std::uniform_int_distribution<int>``). Bounds must be
  whole numbers within C++ ``int`` (32 bits); ``2.0`` is accepted, ``2.5`` is refused.
- `Uniform` and `DiscreteUniform` refuse ``min >= max``, as ANNarchy does.
- Clip bounds (`min`/`max` of Normal, LogNormal, Exponential, Gamma) must satisfy
  ``min <= max``; ANNarchy accepts ``min > max`` and then returns ``max`` everywhere.
  Clipping follows ANNarchy: values below ``min`` become ``min``, values above ``max``
  become ``max`` (NaN stays NaN).
- Every number must be a finite real (``bool`` is refused); use None for "no bound".
- ANNarchy's constructors take ``rng`` (a `numpy.random.Generator`) and draw from it;
  here `get_values(shape, rng)` takes the generator at the call and falls back to the
  constructor's, then to a fresh unseeded ``np.random.default_rng()`` (ANNarchy's default).
- `Binomial` (also in ANNarchy 5) is not provided.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import InvalidTypeError, InvalidValueError

__all__ = [
    "KINDS",
    "DiscreteUniform",
    "Exponential",
    "Gamma",
    "LogNormal",
    "Normal",
    "RandomDistribution",
    "Uniform",
    "from_description",
]

_INT32 = (-(2**31), 2**31 - 1)


def _number(owner: str, name: str, value) -> float:
    """A finite real number, as a Python float (bool and strings are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidTypeError(f"{owner}: {name} must be a number, got {value!r} "
                               f"({type(value).__name__})")
    result = float(value)
    if not math.isfinite(result):
        raise InvalidValueError(f"{owner}: {name} must be finite, got {value!r}")
    return result


def _bound(owner: str, name: str, value) -> float | None:
    return None if value is None else _number(owner, name, value)


def _clip_bounds(owner: str, low, high) -> tuple[float | None, float | None]:
    low, high = _bound(owner, "min", low), _bound(owner, "max", high)
    if low is not None and high is not None and low > high:
        raise InvalidValueError(f"{owner}: min must not exceed max, got min={low!r} > "
                                f"max={high!r}")
    return low, high


def _positive(owner: str, name: str, value, zero_allowed: bool = False) -> float:
    result = _number(owner, name, value)
    if result < 0.0 or (result == 0.0 and not zero_allowed):
        rule = ">= 0" if zero_allowed else "> 0"
        raise InvalidValueError(f"{owner}: {name} must be {rule}, got {value!r}")
    return result


def _generator(owner: str, rng) -> np.random.Generator | None:
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise InvalidTypeError(f"{owner}: rng must be a numpy.random.Generator or None, got "
                               f"{type(rng).__name__}")
    return rng


def _clip(data: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
    # ANNarchy's order: below min -> min, then above max -> max; NaN compares false and stays.
    if low is not None:
        data[data < low] = low
    if high is not None:
        data[data > high] = high
    return data


class RandomDistribution:
    """Base class: a distribution ANNarchy scripts use as a value or inside an equation."""

    kind: str = ""
    _fields: tuple[str, ...] = ()

    def __init__(self, rng: np.random.Generator | None = None):
        self.rng = _generator(self.kind, rng)

    @property
    def parameters(self) -> tuple:
        """The numbers that define the draw, in constructor order (None: no clip bound)."""
        return tuple(getattr(self, f) for f in self._fields)

    @property
    def description(self) -> tuple[str, tuple]:
        """``(kind, parameters)``: hashable, for a frozen spec or `tecomp.philox.draw_te`."""
        return self.kind, self.parameters

    def _rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        rng = _generator(self.kind, rng)
        if rng is not None:
            return rng
        if self.rng is None:  # ANNarchy's default: a fresh, unseeded generator
            self.rng = np.random.default_rng()
        return self.rng

    def _draw(self, shape, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_values(self, shape: int | tuple[int, ...],
                   rng: np.random.Generator | None = None) -> np.ndarray:
        """A float64 array of independent draws with the given shape."""
        return np.asarray(self._draw(shape, self._rng(rng)), dtype=np.float64)

    def get_value(self, rng: np.random.Generator | None = None) -> float:
        """One draw, as a Python float."""
        return float(self.get_values(1, rng)[0])

    def get_list_values(self, size: int, rng: np.random.Generator | None = None) -> list[float]:
        """`size` draws as a list (ANNarchy has this method too)."""
        return [float(v) for v in self.get_values(size, rng)]

    def __repr__(self) -> str:
        args = (f"{f}={v!r}" for f, v in zip(self._fields, self.parameters, strict=True))
        return f"{self.kind}({', '.join(args)})"


class Uniform(RandomDistribution):
    """Uniform floats between `min` and `max` (ANNarchy: ``Uniform(min, max, rng=None)``).

    >>> import numpy as np
    >>> d = Uniform(-1.0, 1.0)
    >>> d.description
    ('Uniform', (-1.0, 1.0))
    >>> v = d.get_values((2, 3), np.random.default_rng(0))
    >>> v.shape, v.dtype, bool(((v >= -1.0) & (v <= 1.0)).all())
    ((2, 3), dtype('float64'), True)
    """

    kind = "Uniform"
    _fields = ("min", "max")

    def __init__(self, min: float, max: float, rng: np.random.Generator | None = None):
        super().__init__(rng)
        self.min = _number(self.kind, "min", min)
        self.max = _number(self.kind, "max", max)
        if self.min >= self.max:  # ANNarchy's rule: min == max is refused too
            raise InvalidValueError(f"Uniform: min must be smaller than max, got min={min!r}, "
                                    f"max={max!r}")

    def _draw(self, shape, rng):
        return rng.uniform(self.min, self.max, shape)


class DiscreteUniform(RandomDistribution):
    """Whole numbers from `min` to `max`, both included, as float64
    (ANNarchy: ``DiscreteUniform(min, max, rng=None)``).

    >>> import numpy as np
    >>> v = DiscreteUniform(1, 3).get_values(1000, np.random.default_rng(0))
    >>> sorted(set(v.tolist()))
    [1.0, 2.0, 3.0]
    """

    kind = "DiscreteUniform"
    _fields = ("min", "max")

    def __init__(self, min: int, max: int, rng: np.random.Generator | None = None):
        super().__init__(rng)
        self.min = self._whole("min", min)
        self.max = self._whole("max", max)
        if self.min >= self.max:
            raise InvalidValueError(f"DiscreteUniform: min must be smaller than max, got "
                                    f"min={min!r}, max={max!r}")

    def _whole(self, name: str, value) -> int:
        number = _number(self.kind, name, value)
        if number != math.floor(number):
            raise InvalidValueError(f"DiscreteUniform: {name} must be a whole number, got "
                                    f"{value!r}")
        if not _INT32[0] <= number <= _INT32[1]:
            raise InvalidValueError(f"DiscreteUniform: {name} must lie in the 32-bit int range "
                                    f"[{_INT32[0]}, {_INT32[1]}], got {value!r}")
        return int(number)

    def _draw(self, shape, rng):
        return rng.integers(self.min, self.max + 1, shape).astype(np.float64)


class Normal(RandomDistribution):
    """Normal (Gaussian) draws, optionally clipped to ``[min, max]``
    (ANNarchy: ``Normal(mu, sigma, min=None, max=None, rng=None)``).

    >>> import numpy as np
    >>> Normal(0.0, 1.0, min=-0.5)
    Normal(mu=0.0, sigma=1.0, min=-0.5, max=None)
    >>> float(Normal(0.0, 1.0, min=-0.5).get_values(500, np.random.default_rng(1)).min())
    -0.5
    """

    kind = "Normal"
    _fields = ("mu", "sigma", "min", "max")

    def __init__(self, mu: float, sigma: float, min: float | None = None,
                 max: float | None = None, rng: np.random.Generator | None = None):
        super().__init__(rng)
        self.mu = _number(self.kind, "mu", mu)
        self.sigma = _positive(self.kind, "sigma", sigma, zero_allowed=True)
        self.min, self.max = _clip_bounds(self.kind, min, max)

    def _draw(self, shape, rng):
        return _clip(rng.normal(self.mu, self.sigma, shape), self.min, self.max)


class LogNormal(Normal):
    """``exp(Normal(mu, sigma))``, optionally clipped
    (ANNarchy: ``LogNormal(mu, sigma, min=None, max=None, rng=None)``); the parameters and
    their rules are Normal's.

    >>> import numpy as np
    >>> bool((LogNormal(0.0, 0.5).get_values(100, np.random.default_rng(2)) > 0).all())
    True
    """

    kind = "LogNormal"

    def _draw(self, shape, rng):
        return _clip(rng.lognormal(self.mu, self.sigma, shape), self.min, self.max)


class Exponential(RandomDistribution):
    """Exponential draws of rate `Lambda` (mean ``1/Lambda``), optionally clipped
    (ANNarchy: ``Exponential(Lambda, min=None, max=None, rng=None)``; see the module
    docstring for ANNarchy's scale/rate mix-up).

    >>> import numpy as np
    >>> v = Exponential(4.0).get_values(200_000, np.random.default_rng(3))
    >>> round(float(v.mean()), 2)
    0.25
    """

    kind = "Exponential"
    _fields = ("Lambda", "min", "max")

    def __init__(self, Lambda: float, min: float | None = None,
                 max: float | None = None, rng: np.random.Generator | None = None):
        super().__init__(rng)
        self.Lambda = _positive(self.kind, "Lambda (the rate)", Lambda)
        self.min, self.max = _clip_bounds(self.kind, min, max)

    def _draw(self, shape, rng):
        return _clip(rng.exponential(1.0 / self.Lambda, shape), self.min, self.max)


class Gamma(RandomDistribution):
    """Gamma draws of shape `alpha` and scale `beta` (mean ``alpha * beta``), optionally
    clipped (ANNarchy: ``Gamma(alpha, beta=1.0, min=None, max=None, rng=None)``).

    >>> import numpy as np
    >>> Gamma(2.0)
    Gamma(alpha=2.0, beta=1.0, min=None, max=None)
    >>> v = Gamma(2.0, 0.5).get_values(200_000, np.random.default_rng(4))
    >>> round(float(v.mean()), 2)
    1.0
    """

    kind = "Gamma"
    _fields = ("alpha", "beta", "min", "max")

    def __init__(self, alpha: float, beta: float = 1.0, min: float | None = None,
                 max: float | None = None, rng: np.random.Generator | None = None):
        super().__init__(rng)
        self.alpha = _positive(self.kind, "alpha (the shape)", alpha)
        self.beta = _positive(self.kind, "beta (the scale)", beta)
        self.min, self.max = _clip_bounds(self.kind, min, max)

    def _draw(self, shape, rng):
        return _clip(rng.gamma(self.alpha, self.beta, shape), self.min, self.max)


KINDS: dict[str, type[RandomDistribution]] = {
    cls.kind: cls for cls in (Uniform, DiscreteUniform, Normal, LogNormal, Exponential, Gamma)}


def from_description(kind: str, parameters: tuple) -> RandomDistribution:
    """The distribution a ``(kind, parameters)`` pair describes, validated like the class.

    >>> from_description("Normal", (0.0, 2.0, None, 1.0))
    Normal(mu=0.0, sigma=2.0, min=None, max=1.0)
    """
    if kind not in KINDS:
        raise InvalidValueError(f"unknown random distribution {kind!r}; known: "
                                f"{', '.join(KINDS)}")
    cls = KINDS[kind]
    if not isinstance(parameters, tuple | list) or len(parameters) != len(cls._fields):
        raise InvalidValueError(f"{kind}: expected {len(cls._fields)} parameters "
                                f"{cls._fields}, got {parameters!r}")
    return cls(*parameters)
