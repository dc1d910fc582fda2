"""Numbers and arrays given by the user: one checker for every entry point that takes them.

`number()` takes one real number, `array()` an array of real numbers. Both accept Python and
NumPy reals (and 0-d arrays), and reject with a tecomp error that names the rule and the
value what NumPy would otherwise convert without a word: None, strings, bytes, complex
numbers, datetimes and timedeltas, other objects, masked arrays (their mask would be lost),
ints too large for a float, NaN and inf where the rule says finite, values the network's
precision cannot hold, and arrays too large for the kernels (int32 indices) or the machine.

>>> number(np.float32(0.5), "setup", "dt", "a positive number of ms")
0.5
>>> number(10**400, "setup", "dt", "a positive number of ms")
Traceback (most recent call last):
...
tecomp.errors.InvalidValueError: setup: dt must be a positive number of ms, got an int of \
401 digits (~1e400) (too large for a float)
"""

import math
import numbers
import os

import numpy as np

from .errors import InvalidTypeError, InvalidValueError

# Kernels index with int32: no population, filter or table may have more elements.
MAX_ELEMENTS = 2**31 - 1
# The largest finite value of each precision.
LARGEST = {"float64": float(np.finfo(np.float64).max), "float32": float(np.finfo(np.float32).max)}
ITEM_BYTES = 8  # the description keeps every array in float64


def show(value, limit: int = 100) -> str:
    """A short, always printable form of a user's value, for messages."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            text = repr(value)
        except ValueError:  # more digits than Python will print
            text = ""
        if len(text) > 60 or not text:
            digits = len(text.lstrip("-")) if text else int(math.log10(abs(value))) + 1
            return f"an int of {digits} digits (~{'-' if value < 0 else ''}1e{digits - 1})"
        return text
    if isinstance(value, tuple | list) and len(value) <= 8 and \
            not any(isinstance(v, tuple | list) for v in value):  # e.g. a geometry
        inner = ", ".join(show(v, limit) for v in value) + ("," if len(value) == 1 and
                                                            isinstance(value, tuple) else "")
        text = f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
        return text if len(text) <= limit else text[:limit - 3] + "..."
    try:
        numeric = isinstance(value, np.number | np.bool_) and \
            not isinstance(value, np.timedelta64)
        text = repr(value.item() if numeric else value)  # datetimes keep their NumPy form
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"a {type(value).__name__}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _what_type(value) -> str:
    return "" if value is None else f" ({type(value).__name__})"


def is_real(value, allow_bool: bool = False) -> bool:
    """A real number: Python or NumPy, not bool (unless allowed), not a timedelta."""
    if isinstance(value, bool | np.bool_):
        return allow_bool
    if isinstance(value, np.timedelta64 | np.datetime64):
        return False
    return isinstance(value, numbers.Real)


def physical_memory() -> int | None:
    """Bytes of memory of this machine (None when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def size_of(nbytes: int) -> str:
    """`nbytes` for a message: '17179869176 bytes (16.0 GiB)'."""
    if nbytes >= 2**80:  # beyond any memory: no unit helps
        return f"{show(nbytes)} bytes"
    scaled, unit = float(nbytes), "bytes"
    for name in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, name
    return f"{nbytes} bytes" + ("" if unit == "bytes" else f" ({scaled:.1f} {unit})")


def check_elements(count: int, who: str, what: str, arrays: int = 1) -> None:
    """`count` elements (in `arrays` float64 arrays) must fit the kernels' int32 indices
    and this machine's memory."""
    need = count * ITEM_BYTES * max(1, arrays)
    if count > MAX_ELEMENTS:
        raise InvalidValueError(f"{who}: {what} has {show(count)} elements, more than "
                                f"{MAX_ELEMENTS} (2**31 - 1; kernels index with int32); it "
                                f"would need {size_of(need)}")
    memory = physical_memory()
    if memory is not None and need > memory:
        raise InvalidValueError(f"{who}: {what} would need {size_of(need)}, more than this "
                                f"machine's memory ({size_of(memory)})")


def _fit(x: float, dtype: str | None) -> str:
    """Why a finite float does not fit `dtype` ('' when it does)."""
    if dtype is None or not math.isfinite(x) or abs(x) <= LARGEST[dtype]:
        return ""
    return f"beyond the largest {dtype} value, {LARGEST[dtype]:.8g}"


def number(value, who: str, what: str, rule: str, *, finite: bool = True,
           dtype: str | None = "float64", allow_bool: bool = False,
           wrong_type: type = InvalidTypeError) -> float:
    """One real number as a float, or a tecomp error "{who}: {what} must be {rule}, got ...".

    `finite`: reject NaN and inf; `dtype`: reject finite values beyond that precision;
    `wrong_type`: the error for a value that is no real number at all."""
    if isinstance(value, np.ndarray) and value.ndim == 0 and \
            not isinstance(value, np.ma.MaskedArray) and value.dtype.kind in "biuf":
        value = value[()]  # a 0-d array holds one number
    must, got = f"{who}: {what} must be {rule}", f", got {show(value)}"
    if not is_real(value, allow_bool):
        raise wrong_type(must + got + _what_type(value))
    try:
        x = float(value)
    except (OverflowError, ValueError, TypeError):
        raise InvalidValueError(f"{must}{got} (too large for a float)") from None
    if not math.isfinite(x) and isinstance(value, np.floating) and np.isfinite(value):
        # a longdouble beyond float64
        raise InvalidValueError(f"{must}{got} (too large for a float)")
    if finite and not math.isfinite(x):
        raise InvalidValueError(f"{must}{got} (not finite)")
    why = _fit(x, dtype)
    if why:
        raise InvalidValueError(f"{must} that fits the network's precision{got} ({why})")
    return x


def array(value, who: str, what: str, rule: str = "numbers", *, finite: bool = True,
          dtype: str | None = "float64", allow_bool: bool = False,
          wrong_type: type = InvalidTypeError) -> np.ndarray:
    """A new float64 array of real numbers, or a tecomp error that names the rule and the
    first offending element. Lists must be rectangular."""
    head = f"{who}: {what} must be {rule}"
    if isinstance(value, np.ma.MaskedArray):
        raise wrong_type(f"{head}, got a masked array; its mask would be ignored (pass "
                         "value.filled(...) or value.data)")
    if value is None or isinstance(value, str | bytes | bytearray | memoryview | dict | set |
                                   frozenset):
        raise wrong_type(f"{head}, got {show(value)}{_what_type(value)}")
    if isinstance(value, np.ndarray):
        raw = value
    else:
        try:
            raw = np.asarray(value)
        except ValueError as err:
            if "inhomogeneous" in str(err) or "sequence" in str(err):
                raise InvalidValueError(f"{head} in a rectangular array, got ragged rows of "
                                        "unequal lengths") from None
            raise InvalidValueError(f"{head}, got {show(value)} ({err})") from None
        except (TypeError, OverflowError, RecursionError) as err:
            raise wrong_type(f"{head}, got {show(value)} ({err})") from None
        except MemoryError:
            raise InvalidValueError(f"{head}, got {show(value)}, too large for this machine's "
                                    "memory") from None
    kind = raw.dtype.kind
    if kind == "O":
        raw = _objects(raw, head, allow_bool, wrong_type)
    elif kind == "b" and not allow_bool:
        raise wrong_type(f"{head}, got booleans ({show(raw.flat[0] if raw.size else raw)})")
    elif kind not in "biuf":
        names = {"c": "complex numbers", "M": "datetimes", "m": "timedeltas", "U": "strings",
                 "S": "bytes"}
        first = show(raw.flat[0]) if raw.size else "none"
        raise wrong_type(f"{head}, got {names.get(kind, f'{raw.dtype} values')} "
                         f"(first: {first})")
    check_elements(int(raw.size), who, what)
    try:
        out = np.array(raw, dtype=np.float64)
    except MemoryError:
        raise InvalidValueError(f"{who}: {what} would need {size_of(raw.size * ITEM_BYTES)}, "
                                "more than the memory free now") from None
    if kind == "f" and raw.dtype.itemsize > 8:  # longdouble values beyond float64
        beyond = np.isfinite(raw) & ~np.isfinite(out)
        if beyond.any():
            raise InvalidValueError(f"{head}, got {show(raw[_first(beyond)])}" + _at(beyond)
                                    + " (too large for a float)")
    if finite:
        bad = ~np.isfinite(out)
        if bad.any():
            raise InvalidValueError(f"{who}: {what} must be finite (no NaN or inf), got "
                                    f"{show(out[_first(bad)])}" + _at(bad))
    if dtype is not None and dtype != "float64":
        big = np.abs(out) > LARGEST[dtype]
        big &= np.isfinite(out)
        if big.any():
            x = float(out[_first(big)])
            raise InvalidValueError(f"{head} that fit the network's precision, got {show(x)}"
                                    f"{_at(big)} ({_fit(x, dtype)})")
    return out


def fits(values: np.ndarray, dtype: str) -> str:
    """'' when every finite value fits `dtype`, else which one does not."""
    if dtype == "float64" or values.size == 0:
        return ""
    big = (np.abs(values) > LARGEST[dtype]) & np.isfinite(values)
    if not big.any():
        return ""
    x = float(values[_first(big)])
    return f"{show(x)}{_at(big)}, {_fit(x, dtype)}"


def _first(mask: np.ndarray):
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _at(mask: np.ndarray) -> str:
    return f" at index {_first(mask)}" if mask.ndim else ""


def _objects(raw: np.ndarray, head: str, allow_bool: bool, wrong_type: type) -> np.ndarray:
    """An object array (a list mixing types, or holding huge ints) checked element by
    element, as float64."""
    floats = np.empty(raw.shape, np.float64)
    for index, x in np.ndenumerate(raw):
        if isinstance(x, list | tuple | np.ndarray):
            raise InvalidValueError(f"{head} in a rectangular array, got ragged rows of "
                                    "unequal lengths")
        if not is_real(x, allow_bool):
            raise wrong_type(f"{head}, got {show(x)}{_what_type(x)}")
        try:
            floats[index] = float(x)
        except (OverflowError, ValueError, TypeError):
            raise InvalidValueError(f"{head}, got {show(x)} (too large for a float)") from None
    return floats
