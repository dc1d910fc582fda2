"""Rate-coded neuron types: parameters and the equations run once per step."""

from dataclasses import dataclass

import numpy as np

from .errors import EquationError, InvalidTypeError
from .expr import Expr, names, parse, substitute

# Names every equation may use besides the neuron's own.
CONSTANTS = {"pi": float(np.pi)}


@dataclass(frozen=True)
class Equation:
    """`target = expression`, run in declaration order each step."""

    target: str
    expr: Expr
    source: str


class Neuron:
    """A rate-coded neuron type.

    >>> Neuron(parameters="r = 0.0").parameters
    {'r': 0.0}
    >>> Neuron(parameters="g = 0.5", equations="r = g * sum(exc)").equations[0].target
    'r'
    """

    def __init__(self, parameters: str | dict = "", equations: str = "", name: str | None = None,
                 description: str | None = None):
        self.name = name or "Neuron"
        self.description = description
        self.parameters = _parse_parameters(parameters)
        self.equations = _parse_equations(equations, set(self.parameters))
        self.variables = tuple(dict.fromkeys(eq.target for eq in self.equations))

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every per-neuron array of a population of this type: parameters, then variables."""
        return tuple(self.parameters) + tuple(v for v in self.variables if v not in self.parameters)

    def targets(self) -> set[str]:
        """The targets whose summed input the equations read."""
        return set().union(*(names(eq.expr, "sum") for eq in self.equations))

    def __repr__(self) -> str:
        equations = [e.source for e in self.equations]
        return f"Neuron(parameters={self.parameters}, equations={equations})"


def _lines(text: str) -> list[str]:
    out = []
    for raw in text.replace(";", "\n").splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.strip():
            out.append(line)
    return out


def _split_assignment(line: str, what: str) -> tuple[str, str, int]:
    """`name = rhs [: flags]` -> (name, rhs, column of rhs); flags are not part of this language."""
    if ":" in line:
        raise EquationError(f"{what}: flags after ':' are not supported", line, line.index(":"))
    if "=" not in line:
        raise EquationError(f"{what}: expected 'name = expression'", line, len(line))
    lhs, rhs = line.split("=", 1)
    name = lhs.strip()
    if not name.isidentifier():
        column = len(lhs) - len(lhs.lstrip())
        if "/" in name:
            raise EquationError(f"{what}: differential equations are not supported, only "
                                "assignments 'name = expression'", line, column)
        raise EquationError(f"{what}: {name!r} is not a valid variable name", line, column)
    return name, rhs, len(lhs) + 1


def _parse_parameters(parameters: str | dict) -> dict[str, float]:
    if isinstance(parameters, dict):
        return {str(k): _number(v, f"parameter {k}") for k, v in parameters.items()}
    if not isinstance(parameters, str):
        raise InvalidTypeError(f"Neuron: parameters must be a string or a dict, "
                               f"got {type(parameters).__name__}")
    values = {}
    for line in _lines(parameters):
        name, rhs, column = _split_assignment(line, "Neuron parameters")
        expr = parse(rhs, line, column, known=set(CONSTANTS))
        if expr[0] == "var":
            expr = ("const", CONSTANTS[expr[1]])
        if expr[0] != "const":
            raise EquationError("Neuron parameters: the value must be a number", line, column)
        values[name] = expr[1]
    return values


def _parse_equations(equations: str, parameters: set[str]) -> tuple[Equation, ...]:
    if not isinstance(equations, str):
        raise InvalidTypeError(f"Neuron: equations must be a string, "
                               f"got {type(equations).__name__}")
    lines = _lines(equations)
    assigned = {_split_assignment(line, "Neuron equations")[0] for line in lines}
    known = parameters | assigned | set(CONSTANTS)
    result = []
    for line in lines:
        target, rhs, column = _split_assignment(line, "Neuron equations")
        if target in parameters:
            raise EquationError(f"Neuron equations: {target!r} is a parameter and cannot be "
                                "assigned", line, len(line) - len(line.lstrip()))
        expr = substitute(parse(rhs, line, column, known=known),
                          {("var", k): ("const", v) for k, v in CONSTANTS.items()})
        result.append(Equation(target, expr, line.strip()))
    return tuple(result)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InvalidTypeError(f"Neuron: {what} must be a number, got {value!r}")
    return float(value)
