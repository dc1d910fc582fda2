"""One base error for everything tecomp rejects; the subclasses keep Python's usual meaning."""


class TecompError(Exception):
    """Base class of every error tecomp raises on purpose."""


class InvalidValueError(TecompError, ValueError):
    """A value breaks one of tecomp's rules (shape, range, geometry, ...)."""


class InvalidTypeError(TecompError, TypeError):
    """An argument has a type tecomp cannot use."""


class UnknownAttributeError(InvalidValueError, AttributeError):
    """A population or projection has no attribute of that name."""


class EquationError(InvalidValueError):
    """An equation, parameter or psp string cannot be parsed or refers to unknown names."""

    def __init__(self, message: str, line: str | None = None, column: int | None = None):
        if line is not None:
            caret = "" if column is None else "\n    " + " " * column + "^"
            message = f"{message}\n    {line}{caret}"
        super().__init__(message)


class NetworkStateError(TecompError, RuntimeError):
    """An operation the network's state does not allow (e.g. adding a layer after compile()).

    A RuntimeError, not a ValueError: the values are fine, the moment is not."""


class ParallelRunError(TecompError, RuntimeError):
    """Copies of a `parallel_run` failed. `failures` lists each failed copy (its index, its
    exception and the traceback where it ran); `results` has every copy's result in order,
    None for the failed ones."""

    def __init__(self, message: str, results: list, failures: list):
        super().__init__(message)
        self.results, self.failures = results, failures


class KnobError(InvalidValueError):
    """Schedule knobs that no template accepts (a misspelt name, a value of the wrong type)."""


class TecompWarning(UserWarning):
    """Something tecomp lets through but the user should know about (e.g. a monitor whose
    recordings grow past 1 GiB)."""
