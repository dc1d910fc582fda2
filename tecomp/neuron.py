"""Rate-coded neuron types: parameters, equations (assignments and ODEs), flags and functions.

The language is ANNarchy's: one definition per line (or separated by `;`), `# comments`,
flags after a colon. Every mistake is reported here, at `Neuron(...)`, quoting the line with
a caret under the column.

    parameters: `tau = 10.0 : population` (one value shared by the population), `g = 0.5`
        (one value per neuron); a dict gives population-wide values, as in ANNarchy 5, unless
        a value is `Parameter(v, locality="local")`.
    equations: `r = pos(u)`, or an ODE in any linear arrangement with one derivative,
        `tau * dr/dt + r = sum(exc) + baseline`; flags `init = 0.1`, `min = 0.0`, `max = rmax`,
        and the method: `explicit` (default), `exponential`, `midpoint`. A line without '='
        continues the equation above (ANNarchy's multi-line `if ... else:`).
    types: `: int` and `: bool` on a parameter or variable (`Parameter(v, type=int)` in a
        dict). Values stay in the network's float type; every assignment converts as C++
        does in ANNarchy (int truncates toward zero, bool is 1 unless 0), and kernels read
        such attributes converted. `b = True` (or true/false) makes a bool parameter.
    names: parameters, variables (their value at that point of the step), `t` (ms at the
        start of the step), `dt`, `pi`, `True`/`False` (`true`/`false`), `sum(target)`,
        `sum()` (every target), the functions of `tecomp.expr.FUNCTIONS`,
        `ite(condition, a, b)` or `if condition: a else: b`, the population-wide `mean(x)`,
        `max(x)`, `min(x)`, `norm1(x)`, `norm2(x)` of a per-neuron `x` (their values at the
        end of the previous step, 0 before the first), Constants (`tecomp.Constant`, created
        before the Neuron), and user functions (`functions="sigmoid(x) = 1 / (1 + exp(-x))"`).
    random draws: `Uniform(a, b)`, `DiscreteUniform(a, b)`, `Normal(mu, sigma)`,
        `LogNormal(mu, sigma)`, `Exponential(rate)`, `Gamma(alpha, beta)` (ANNarchy's names
        and argument counts; numbers, population-wide parameters or Constants): a fresh draw
        per neuron, per step and per occurrence, made inside the compiled kernel.
"""

import itertools
import keyword
import math
import re
from dataclasses import dataclass

from . import constants, distributions, odes
from .errors import EquationError, InvalidTypeError, InvalidValueError
from .expr import (
    DERIVATIVE,
    FUNCTIONS,
    ITE,
    REDUCTIONS,
    Draw,
    Expr,
    Kind,
    constant_problem,
    draws,
    fold,
    global_parts,
    names,
    parse,
    substitute,
)
from .values import LARGEST, number

CONSTANTS = {"pi": math.pi, "True": 1.0, "False": 0.0, "true": 1.0, "false": 0.0}
CLOCK = ("t", "dt")
NEURON_FUNCTIONS = FUNCTIONS | {ITE.name: ITE}
# ANNarchy's in-equation distributions and how many arguments each takes
# (ANNarchy/core/Random.py, distributions_arguments).
DRAW_ARGUMENTS = {"Uniform": 2, "DiscreteUniform": 2, "Normal": 2, "LogNormal": 2,
                  "Exponential": 1, "Gamma": 2}
MAX_DRAWS = 1 << 16  # draws per update (tecomp.philox numbers them with 16 bits)


def _draw_check(kind: str):
    cls = distributions.KINDS[kind]

    def check(arguments: tuple) -> tuple:
        if all(a[0] == Kind.CONST for a in arguments):  # validated as the class does
            made = cls(*(a[1] for a in arguments))
            return tuple(None if v is None else (Kind.CONST, float(v)) for v in made.parameters)
        return tuple(arguments) + (None,) * (len(cls._fields) - len(arguments))

    return check


DRAWS = {kind: Draw(kind, n, _draw_check(kind)) for kind, n in DRAW_ARGUMENTS.items()}
# What a flag (min, max) may call besides the functions: the population-wide operations;
# an equation may also draw random numbers.
FLAG_CALLS = NEURON_FUNCTIONS | REDUCTIONS
EQUATION_CALLS = FLAG_CALLS | DRAWS
RESERVED = set(CONSTANTS) | set(CLOCK) | set(EQUATION_CALLS) | {"sum", "pre", "post"}
TYPES = ("float", "int", "bool")
# ANNarchy flags that tecomp does not implement: named as such rather than "unknown".
UNSUPPORTED_FLAGS = ("implicit", "semiimplicit", "rk4", "runge-kutta4", "exact", "event-driven",
                     "postsynaptic", "projection", "unless_refractory", "unless_post")
_DERIVATIVE = re.compile(r"\bd([A-Za-z_]\w*)\s*/\s*dt\b")
_ASSIGN = re.compile(r"(?<![=<>!])=(?!=)")
_BOOLEANS = ("True", "False", "true", "false")


@dataclass(frozen=True)
class Parameter:
    """A parameter given in a dict, as ANNarchy 5's `ann.Parameter`.

    >>> Neuron(parameters={"tau": 10.0, "g": Parameter(0.5, locality="local")}).shared
    frozenset({'tau'})
    """

    value: float
    locality: str = "global"  # "global" (or "population"): one value; "local": one per neuron
    type: object = "float"  # "float", "int" or "bool" (or the Python types float, int, bool)


@dataclass(frozen=True)
class Equation:
    """One line of `equations`: `target = expr`, or an ODE with `expr` = d(target)/dt."""

    target: str
    expr: Expr
    source: str
    ode: bool = False
    method: str = "explicit"
    init: float = 0.0
    min: Expr | None = None
    max: Expr | None = None
    tau: Expr | None = None  # exponential method: tau * dx/dt + x = steady
    steady: Expr | None = None
    type: str = "float"  # "int" and "bool" convert every assignment (see expr.CASTS)


class Neuron:
    """A rate-coded neuron type.

    >>> Neuron(parameters="r = 0.0").parameters
    {'r': 0.0}
    >>> n = Neuron(parameters="tau = 10.0 : population",
    ...            equations="tau * dr/dt + r = sum(exc) : min = 0.0")
    >>> n.equations[0].expr, sorted(n.shared)
    (('bin', '/', ('bin', '-', ('sum', 'exc'), ('var', 'r')), ('var', 'tau')), ['tau'])
    """

    def __init__(self, parameters: str | dict = "", equations: str | list = "",
                 functions: str | None = None, name: str | None = None,
                 description: str | None = None):
        self.name = name or "Neuron"
        self.description = description
        self.functions = _parse_functions(functions)
        self.parameters, self.shared, types = _parse_parameters(parameters)
        self.equations = _parse_equations(equations, self.parameters, self.functions,
                                          self.shared)
        self.variables = tuple(eq.target for eq in self.equations)
        self.init = self.parameters | {eq.target: eq.init for eq in self.equations}
        # "int" or "bool" for the typed attributes (the others are floats)
        self.types = types | {eq.target: eq.type for eq in self.equations if eq.type != "float"}

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every attribute of a population of this type: parameters, then variables."""
        return tuple(self.parameters) + self.variables

    def targets(self) -> set[str]:
        """The targets whose summed input the equations read ("" for `sum()`)."""
        return set().union(*(names(eq.expr, Kind.SUM) for eq in self.equations))

    def typed(self, name: str, values):
        """An attribute's values as ANNarchy returns them: ints (int64) for `: int`, bools
        for `: bool`, else the float array itself; a one-value attribute gives a Python
        number. `values` is what the network stores (floats)."""
        import numpy as np

        kind = self.types.get(name, "float")
        array = np.asarray(values)
        if name in self.shared:
            value = float(array.reshape(-1)[0])
            if kind == "int" and math.isfinite(value):
                return int(value)
            return value != 0 if kind == "bool" else value
        if kind == "int" and np.isfinite(array).all():  # NaN/inf have no int form: kept
            return np.trunc(array).astype(np.int64)
        return array != 0 if kind == "bool" else values

    def precision_problem(self, dtype: str, dt: float | None = None) -> str:
        """'' when every number of this neuron fits `dtype`, else which one does not. With
        `dt`, also the numbers of one step with dt folded in (what the kernel is built of)."""
        largest = LARGEST[dtype]
        for name, value in self.init.items():  # parameters and initial values of variables
            if abs(value) > largest:
                return f"{name} = {value!r} does not fit {dtype} (largest {largest:.8g})"
        for eq in self.equations:
            for tree in (eq.expr, eq.min, eq.max, eq.tau, eq.steady):
                problem = "" if tree is None else constant_problem(tree, dtype)
                if problem:
                    return f"equation '{eq.source}': {problem}"
        if dt is not None:
            lets, results = odes.program(self.equations, dt)
            for tree in [*(e for _, e in lets), *results.values()]:
                problem = constant_problem(tree, dtype)
                if problem:
                    return f"its update with dt = {dt} ms folded in: {problem}"
        return ""

    def __repr__(self) -> str:
        equations = [e.source for e in self.equations]
        return f"Neuron(parameters={self.parameters}, equations={equations})"


# -- lines and flags ----------------------------------------------------------------------------

def _lines(text: str, continued: bool = False) -> list[str]:
    """The non-empty lines of a definition, comments removed. With `continued` (equations),
    a line without an assignment continues the one above, as in ANNarchy:

        r = if t <= 5:
                0
            else:
                1
    """
    out: list[str] = []
    for raw in text.replace(";", "\n").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cut = _flags_at(line)
        body = line if cut is None else line[:cut]
        if continued and out and not _ASSIGN.search(body):
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


_TOKEN = re.compile(r"[A-Za-z_]\w*|\S")


def _flags_at(line: str) -> int | None:
    """The column of the ':' that starts the flags, None without flags. The colons of
    ANNarchy's `if condition: a else: b` are skipped: the one after an `if`'s condition,
    and the one after `else` (a Python `a if c else b` has neither)."""
    tokens = [(m.group(), m.start()) for m in _TOKEN.finditer(line)]
    depth, pending = 0, 0
    for k, (token, column) in enumerate(tokens):
        following = tokens[k + 1][0] if k + 1 < len(tokens) else None
        previous = tokens[k - 1][0] if k else None
        if token in "([{":
            depth += 1
        elif token in ")]}":
            depth -= 1
        elif depth == 0 and token == "if":
            pending += 1
        elif depth == 0 and token == "else" and following != ":":
            pending = max(0, pending - 1)  # the else of a Python conditional
        elif depth == 0 and token == ":" and previous != "else":
            if not pending:
                return column
            pending -= 1
    return None


def _split_flags(line: str) -> tuple[str, list[tuple[str, str | None, int, int]]]:
    """`body : a = 1, b` -> (body, [(key, value text or None, key column, value column)])."""
    cut = _flags_at(line)
    if cut is None:
        return line, []
    flags, start, depth = [], cut + 1, 0
    for i in range(cut + 1, len(line) + 1):
        char = line[i] if i < len(line) else ","
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:  # commas inside max = clip(a, b, c) do not split
            piece = line[start:i]
            key, equal, value = piece.partition("=")
            column = start + len(piece) - len(piece.lstrip())
            flags.append((key.strip(), value if equal else None, column, start + len(key) + 1))
            start = i + 1
    return line[:cut], flags


def _bad_flag(key: str, allowed: tuple[str, ...], what: str, line: str, column: int):
    if not key:
        return EquationError(f"{what}: empty flag after ':'", line, column)
    if key in UNSUPPORTED_FLAGS:
        return EquationError(f"{what}: the ANNarchy flag {key!r} is not supported by tecomp; "
                             f"supported: {', '.join(allowed)}", line, column)
    return EquationError(f"{what}: unknown flag {key!r}; expected one of "
                         f"{', '.join(allowed)}", line, column)


def _check_name(name: str, what: str, line: str, column: int, taken) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise EquationError(f"{what}: {name!r} is not a valid name", line, column)
    if name in RESERVED:
        raise EquationError(f"{what}: {name!r} is reserved (t, dt, pi, sum and the "
                            "function names)", line, column)
    if name in taken:
        raise EquationError(f"{what}: {name!r} is already defined", line, column)


# -- parameters ---------------------------------------------------------------------------------

def _parse_parameters(parameters) -> tuple[dict[str, float], frozenset[str], dict[str, str]]:
    """(values, names of the population-wide ones, {name: "int" or "bool"})."""
    if isinstance(parameters, dict):
        return _dict_parameters(parameters)
    if not isinstance(parameters, str):
        raise InvalidTypeError(f"Neuron: parameters must be a string or a dict, "
                               f"got {type(parameters).__name__}")
    values, shared, types = {}, set(), {}
    for line in _lines(parameters):
        body, flags = _split_flags(line)
        match = _ASSIGN.search(body)
        if match is None:
            raise EquationError("Neuron parameters: expected 'name = value'", line, len(body))
        name = body[:match.start()].strip()
        _check_name(name, "Neuron parameters", line, 0, values)
        text = body[match.end():]
        expr = fold(parse(text, line, match.end(), known=set(CONSTANTS), constants=CONSTANTS))
        if expr[0] != Kind.CONST:
            raise EquationError("Neuron parameters: the value must be a number", line,
                                match.end() + 1)
        flagged = None
        for key, value, column, _ in flags:
            if key == "population" and value is None:
                shared.add(name)
            elif key in TYPES and value is None:
                if flagged not in (None, key):
                    raise EquationError(f"Neuron parameters: one type per parameter, got "
                                        f"{flagged} and {key}", line, column)
                flagged = key
            else:
                raise _bad_flag(key, ("population", *TYPES), "Neuron parameters", line, column)
        # ANNarchy: a parameter written True/False (true/false) is a bool unless flagged
        kind = flagged or ("bool" if text.strip() in _BOOLEANS else "float")
        values[name] = convert(expr[1], kind)
        if kind != "float":
            types[name] = kind
    return values, frozenset(shared), types


def convert(value: float, kind: str) -> float:
    """A value as an attribute of type `kind` holds it (int: truncated toward zero; bool:
    1.0 unless 0), in float form."""
    if kind == "int":
        return float(math.trunc(value))
    if kind == "bool":
        return 0.0 if value == 0 else 1.0
    return value


def _dict_parameters(parameters: dict) -> tuple[dict[str, float], frozenset[str], dict]:
    values, shared, types = {}, set(), {}
    for key, value in parameters.items():
        if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key) \
                or key in RESERVED:
            raise InvalidValueError(f"Neuron: parameter name {key!r} is not a valid name "
                                    "(an identifier other than t, dt, pi, sum or a function)")
        local, kind = False, "float"
        if isinstance(value, Parameter):
            if value.locality not in ("global", "population", "local"):
                raise InvalidValueError(f"Neuron: parameter {key}: locality must be 'global' "
                                        f"or 'local', got {value.locality!r}")
            kind = {float: "float", int: "int", bool: "bool"}.get(value.type, value.type)
            if kind not in TYPES:
                raise InvalidValueError(f"Neuron: parameter {key}: type must be 'float', "
                                        f"'int' or 'bool', got {value.type!r}")
            local, value = value.locality == "local", value.value
        number_ = number(value, "Neuron", f"parameter {key}", "a number",
                         allow_bool=kind == "bool")
        values[key] = convert(number_, kind)
        if kind != "float":
            types[key] = kind
        if not local:
            shared.add(key)
    return values, frozenset(shared), types


# -- functions ----------------------------------------------------------------------------------

def _parse_functions(functions: str | None) -> dict:
    """`name(a, b) = expression` per line -> {name: ((a, b), tree)}; later ones may call
    earlier ones."""
    if functions is None:
        return {}
    if not isinstance(functions, str):
        raise InvalidTypeError(f"Neuron: functions must be a string, "
                               f"got {type(functions).__name__}")
    result: dict = {}
    for line in _lines(functions):
        match = re.fullmatch(r"\s*(\w+)\s*\(([\w\s,]*)\)\s*=(.*)", line)
        if match is None:
            raise EquationError("Neuron functions: expected 'name(x, y) = expression'", line, 0)
        name, params = match.group(1), tuple(p.strip() for p in match.group(2).split(","))
        _check_name(name, "Neuron functions", line, 0, result)
        for p in params:
            if not p.isidentifier() or keyword.iskeyword(p) or params.count(p) > 1:
                raise EquationError(f"Neuron functions: bad argument name {p!r}", line,
                                    match.start(2))
        body = parse(match.group(3), line, match.start(3), known=set(params) | set(CONSTANTS),
                     functions=NEURON_FUNCTIONS | result, constants=CONSTANTS)
        result[name] = (params, _constants(body))
    return result


def _constants(expr: Expr) -> Expr:
    return substitute(expr, {(Kind.VAR, k): (Kind.CONST, v) for k, v in CONSTANTS.items()})


def _local(expr: Expr, line: str) -> Expr:
    """Reject pre.<name>: only a projection's psp reads another population."""
    if names(expr, Kind.PRE):
        match = re.search(r"\bpre\s*\.", line)
        raise EquationError("Neuron: pre.<variable> belongs in a projection's psp; a neuron's "
                            "equations read its own attributes and sum(target)", line,
                            match.start() if match else 0)
    return expr


# -- equations ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Line:
    """One equation line taken apart; columns index `text`."""

    text: str
    flags: list
    lhs: str
    rhs: str
    rhs_at: int
    target: str
    target_at: int
    ode: bool


def _parse_equations(equations, parameters: dict, functions: dict,
                     shared: frozenset[str]) -> tuple[Equation, ...]:
    if isinstance(equations, list | tuple) and all(isinstance(e, str) for e in equations):
        equations = "\n".join(equations)  # ANNarchy 5 also takes a list of lines
    if not isinstance(equations, str):
        raise InvalidTypeError(f"Neuron: equations must be a string, "
                               f"got {type(equations).__name__}")
    lines = [_split_equation(line) for line in _lines(equations, continued=True)]
    declared: set[str] = set()
    for ln in lines:
        if ln.target in parameters:
            raise EquationError(f"Neuron equations: {ln.target!r} is a parameter and cannot be "
                                "assigned", ln.text, ln.target_at)
        _check_name(ln.target, "Neuron equations", ln.text, ln.target_at, declared)
        declared.add(ln.target)
    # Any attribute may be read: a variable declared further down gives its previous value.
    # So may every Constant that exists (which one a network has is checked at compile).
    known = set(parameters) | declared | set(CONSTANTS) | set(CLOCK) | constants.names()
    per_neuron = (set(parameters) - shared) | declared
    numbered = [0]  # the draws of the neuron so far: each gets its own index
    result = tuple(_equation(ln, known, functions, per_neuron, numbered) for ln in lines)
    if numbered[0] > MAX_DRAWS:
        raise EquationError(f"Neuron equations: {numbered[0]} random draws; at most "
                            f"{MAX_DRAWS} per neuron type", lines[-1].text)
    return result


def _split_equation(line: str) -> _Line:
    body, flags = _split_flags(line)
    signs = [m.start() for m in _ASSIGN.finditer(body)  # not a keyword argument's '='
             if body[:m.start()].count("(") == body[:m.start()].count(")")]
    if not signs:
        raise EquationError("Neuron equations: expected 'name = expression' or an ODE such as "
                            "'tau * dr/dt + r = sum(exc)'", line, len(body.rstrip()))
    if len(signs) > 1:
        raise EquationError("Neuron equations: only one '=' per equation (== compares, inside "
                            "ite())", line, signs[1])
    at = signs[0]
    lhs, rhs = body[:at], body[at + 1:]
    derivatives = list(_DERIVATIVE.finditer(body))
    variables = list(dict.fromkeys(m.group(1) for m in derivatives))
    if len(variables) > 1:
        second = next(m for m in derivatives if m.group(1) == variables[1])
        raise EquationError(f"Neuron equations: two derivatives in one equation "
                            f"(d{variables[0]}/dt and d{variables[1]}/dt); write one ODE per "
                            "variable", line, second.start())
    if not derivatives:
        if not lhs.strip().isidentifier():
            raise EquationError(f"Neuron equations: {lhs.strip()!r} is not a variable name; "
                                "expected 'name = expression', or an ODE with dname/dt on the "
                                "left", line, 0)
        return _Line(line, flags, lhs, rhs, at + 1, lhs.strip(), 0, False)
    on_left = [m for m in derivatives if m.start() < at]
    if not on_left:
        m = derivatives[0]
        raise EquationError(f"Neuron equations: d{m.group(1)}/dt is the derivative of a variable "
                            f"this equation does not declare ('{lhs.strip()} = ...' is an "
                            f"assignment); the ODE of {m.group(1)} needs d{m.group(1)}/dt on "
                            "the left-hand side", line, m.start())
    return _Line(line, flags, lhs, rhs, at + 1, variables[0], on_left[0].start() + 1, True)


def _mark_derivatives(text: str) -> str:
    """`dr/dt` -> `_d(r)`, padded to the same length so that columns stay right."""
    def mark(m: re.Match) -> str:
        return f"{DERIVATIVE}({m.group(1)})".ljust(len(m.group(0)))

    return _DERIVATIVE.sub(mark, text)


def _equation(ln: _Line, known: set[str], functions: dict, per_neuron: set[str],
              numbered: list[int]) -> Equation:
    calls = EQUATION_CALLS | functions | {DERIVATIVE: 1}
    kind = _type_flag(ln)
    right = _checked(parse(_mark_derivatives(ln.rhs), ln.text, ln.rhs_at, known, calls,
                           CONSTANTS, truth=kind == "bool" and not ln.ode), ln, per_neuron,
                     numbered)
    method, init, bounds = _variable_flags(ln, known, functions, per_neuron)
    init = convert(init, kind)
    if not ln.ode:
        return Equation(ln.target, right, ln.text, init=init, type=kind, **bounds)
    x = ln.target
    left = _checked(parse(_mark_derivatives(ln.lhs), ln.text, 0, known, calls, CONSTANTS), ln,
                    per_neuron, numbered)
    balance = (Kind.BIN, "-", left, right)
    slope = odes.solve(balance, x)
    if slope is None:
        raise EquationError(f"Neuron equations: the ODE must be linear in d{x}/dt, like "
                            f"'tau * d{x}/dt + {x} = ...' (d{x}/dt may not sit in a function, "
                            "a power or a denominator, multiply itself or cancel out)",
                            ln.text, ln.target_at - 1)
    tau = steady = None
    if method == "exponential":
        form = odes.standardize(balance, x)
        if form is None:
            raise EquationError(f"Neuron equations: the exponential method needs the form "
                                f"'tau * d{x}/dt + {x} = A' with tau and A free of {x}",
                                ln.text, ln.target_at - 1)
        tau, steady = form
    return Equation(x, slope, ln.text, True, method, init, tau=tau, steady=steady, type=kind,
                    **bounds)


def _checked(expr: Expr, ln: _Line, per_neuron: set[str],
             numbered: list[int] | None = None) -> Expr:
    """A parsed piece of an equation: no pre.<name>; population-wide operations only of the
    neuron's own per-neuron attributes (ANNarchy: "there is no local attribute"); random
    draws with one-value arguments, numbered from `numbered[0]` on."""
    expr = _local(_constants(expr), ln.text)
    found = draws(expr)
    for node in found:
        for argument in node[3]:
            if argument is not None and argument[0] == Kind.VAR and \
                    (argument[1] in per_neuron or argument[1] in CLOCK):
                match = re.search(rf"\b{node[1]}\s*\(", ln.text)
                raise EquationError(f"Neuron equations: an argument of {node[1]}() must be a "
                                    "number, a population-wide parameter or a Constant (as in "
                                    f"ANNarchy); {argument[1]!r} is not one", ln.text,
                                    match.start() if match else 0)
    if found and numbered is not None:
        start = numbered[0]
        numbered[0] += len(found)
        expr = substitute(expr, {node: (Kind.RAND, node[1], start + k, node[3])
                                 for k, node in enumerate(found)})
    for name in sorted(names(expr, Kind.GLOBAL)):
        operation, variable = global_parts(name)
        if variable not in per_neuron:
            match = re.search(rf"\b{operation}\s*\(\s*{variable}\b", ln.text)
            raise EquationError(f"Neuron equations: {operation}() takes a per-neuron parameter "
                                f"or variable of this neuron; {variable!r} is not one (a "
                                "population-wide value needs no reduction)", ln.text,
                                match.start() if match else 0)
    return expr


def _type_flag(ln: _Line) -> str:
    """The type an equation's flags give its variable ("float" without int or bool)."""
    kinds = [(key, column) for key, value, column, _ in ln.flags if key in TYPES and value is None]
    for (first, _), (second, column) in itertools.pairwise(kinds):
        if first != second:
            raise EquationError(f"Neuron equations: one type per variable, got {first} and "
                                f"{second}", ln.text, column)
    return kinds[0][0] if kinds else "float"


def _variable_flags(ln: _Line, known: set[str], functions: dict, per_neuron: set[str]):
    """(method, init, {"min": tree, "max": tree}) from the flags of an equation."""
    what, method, init, bounds, seen = "Neuron equations", "explicit", 0.0, {}, set()
    for key, value, column, value_at in ln.flags:
        if key in seen:
            raise EquationError(f"{what}: flag {key!r} is given twice", ln.text, column)
        seen.add(key)
        if key in ("init", "min", "max"):
            if value is None or not value.strip():
                raise EquationError(f"{what}: flag {key!r} needs a value, e.g. {key} = 0.0",
                                    ln.text, column)
            names_here = set(CONSTANTS) if key == "init" else known
            calls = NEURON_FUNCTIONS if key == "init" else FLAG_CALLS
            expr = _checked(parse(value, ln.text, value_at, names_here, calls | functions,
                                  CONSTANTS), ln, per_neuron)
            if key == "init":
                folded = fold(expr)
                if folded[0] != Kind.CONST:
                    raise EquationError(f"{what}: init must be a number", ln.text, value_at)
                init = folded[1]
            else:
                bounds[key] = expr
        elif key in odes.METHODS and value is None:
            if not ln.ode:
                raise EquationError(f"{what}: {key!r} is a method for ODEs; '{ln.target} = ...' "
                                    "is an assignment", ln.text, column)
            if seen & set(odes.METHODS) - {key}:
                raise EquationError(f"{what}: one method per ODE", ln.text, column)
            method = key
        elif key == "population":
            raise EquationError(f"{what}: population-wide variables are not supported; only "
                                "parameters may be ': population'", ln.text, column)
        elif key not in TYPES or value is not None:
            raise _bad_flag(key, ("init = ...", "min = ...", "max = ...", *odes.METHODS,
                                  *TYPES), what, ln.text, column)
    return method, init, bounds
