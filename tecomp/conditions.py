"""Stop conditions: `Population(..., stop_condition="r > 0.9 : any")` for `simulate_until`.

The condition is written in the neuron language (comparisons `< <= > >= == !=`, `and`, `or`,
`not`, arithmetic, the functions of the psp language, `ite()`, the neuron's own functions)
over the population's parameters and variables, `sum(target)`, `t`, `dt` and `pi`. As in
ANNarchy 5.0.4.1, the flag after the colon says how the neurons combine: `any` (the default,
also without a flag) or `all`. It is parsed when the population is created, so a mistake is
reported there, and evaluated with NumPy on the live values after each step (no kernel is
built for it); `t` is then the time at the end of that step.

>>> import tecomp as ann
>>> net = ann.Network()
>>> pop = net.create(3, ann.Neuron(equations="r = r + 1.0"), stop_condition="r >= 2 : all")
>>> net.compile(); net.simulate_until(10.0, pop)
2.0
"""

import re
from typing import TYPE_CHECKING

import numpy as np

from .errors import EquationError, InvalidTypeError
from .expr import ITE, Kind, names, parse
from .neuron import CONSTANTS, NEURON_FUNCTIONS, Neuron

if TYPE_CHECKING:
    from .population import Population

MODES = ("any", "all")
# The functions a condition may call, as NumPy functions of arrays.
NUMPY_FUNCTIONS = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "fabs": np.fabs,
    "tanh": np.tanh, "sin": np.sin, "cos": np.cos,
    "pos": lambda x: np.maximum(x, 0.0), "positive": lambda x: np.maximum(x, 0.0),
    "neg": lambda x: np.minimum(x, 0.0), "negative": lambda x: np.minimum(x, 0.0),
    "clip": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), "power": np.power,
    ITE.name: np.where,
}
_ARITHMETIC = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide,
               "**": np.power}
_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "!=": np.not_equal}
_WRAP = "ite("  # a condition is parsed as the first argument of ite(condition, 1, 0)


class StopCondition:
    """A parsed stop condition of one population (see the module docstring).

    >>> import tecomp as ann
    >>> StopCondition("r > 0.9 and t > 5 : all", ann.Neuron(parameters="r = 0.0")).mode
    'all'
    """

    def __init__(self, text: str, neuron: Neuron, who: str = "Population"):
        if not isinstance(text, str):
            raise InvalidTypeError(f"{who}: stop_condition must be a string such as "
                                   f"'r > 0.9 : any', got {type(text).__name__}")
        body, colon, flags = text.partition(":")
        mode = "any"
        seen = [f for f in re.split(r"[\s,]+", flags.strip()) if f] if colon else []
        for flag in seen:
            if flag not in MODES:
                raise EquationError(f"{who}: stop_condition flag {flag!r} is unknown; "
                                    f"expected 'any' or 'all'", text, text.index(flag, len(body)))
        if len(set(seen)) > 1:
            raise EquationError(f"{who}: stop_condition takes 'any' or 'all', not both", text,
                                len(body) + 1)
        mode = seen[0] if seen else mode
        if not body.strip():
            raise EquationError(f"{who}: stop_condition has no condition before ':'", text, 0)
        known = set(neuron.attributes) | {"t", "dt"} | set(CONSTANTS)
        start = len(body) - len(body.lstrip())
        try:
            wrapped = parse(f"{_WRAP}{body.strip()}, 1, 0)", text, start - len(_WRAP), known,
                            NEURON_FUNCTIONS | neuron.functions, CONSTANTS)
        except EquationError as err:
            raise EquationError(f"{who}: stop_condition: {err}") from None
        tree = wrapped[2][0] if wrapped[0] == Kind.CALL and wrapped[1] == ITE.name else None
        if tree is None:  # folded to a constant: the condition does not depend on anything
            tree = wrapped
        _check(tree, text, who)
        self.text, self.tree, self.mode = text, tree, mode

    def holds(self, population: "Population") -> bool:
        """Whether the condition is true now (for any or all neurons, by its mode)."""
        values = _values(self.tree, population)
        with np.errstate(all="ignore"):
            result = np.asarray(_evaluate(self.tree, values), dtype=bool)
        result = np.broadcast_to(result, (population.size,))
        return bool(result.any() if self.mode == "any" else result.all())

    def __repr__(self) -> str:
        return f"StopCondition({self.text!r})"


def _check(tree, text: str, who: str) -> None:
    """Refuse what the NumPy evaluator does not know (before any simulation)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        kind = node[0]
        if kind == Kind.CALL:
            if node[1] not in NUMPY_FUNCTIONS:
                raise EquationError(f"{who}: stop_condition cannot call {node[1]}(); it may "
                                    f"use {', '.join(sorted(NUMPY_FUNCTIONS))}", text)
            stack.extend(node[2])
        elif kind in (Kind.BIN, Kind.CMP, Kind.BOOL):
            stack.extend((node[2], node[3]))
        elif kind in (Kind.NEG, Kind.NOT):
            stack.append(node[1])
        elif kind not in (Kind.CONST, Kind.VAR, Kind.SUM):
            raise EquationError(f"{who}: stop_condition cannot use {kind!r} expressions", text)


def _values(tree, population) -> dict:
    """The live value of every name the condition reads, flat (one per neuron) or scalar."""
    net = population.network
    out = {}
    for name in names(tree, Kind.VAR):
        if name == "t":
            out[(Kind.VAR, name)] = net.time
        elif name == "dt":
            out[(Kind.VAR, name)] = net.dt
        elif name in population.neuron.shared:
            out[(Kind.VAR, name)] = population.get(name)
        else:
            out[(Kind.VAR, name)] = population.neuron.typed(name,
                                                            population.live(name).reshape(-1))
    for target in names(tree, Kind.SUM):
        if target:
            out[(Kind.SUM, target)] = population.sum(target)
        else:  # sum(): every target that feeds the population
            fed = {p.target for p in net.projections if p.post is population}
            out[(Kind.SUM, target)] = sum((population.sum(t) for t in sorted(fed)),
                                          np.zeros(population.size))
    return out


def _evaluate(node, values: dict):
    kind = node[0]
    if kind == Kind.CONST:
        return node[1]
    if kind in (Kind.VAR, Kind.SUM):
        return values[node]
    if kind == Kind.NEG:
        return np.negative(_evaluate(node[1], values))
    if kind == Kind.NOT:
        return np.logical_not(_evaluate(node[1], values))
    if kind == Kind.CALL:
        args = [_evaluate(a, values) for a in node[2]]
        if node[1] == ITE.name:
            args[0] = np.asarray(args[0], dtype=bool)
        return NUMPY_FUNCTIONS[node[1]](*args)
    a, b = _evaluate(node[2], values), _evaluate(node[3], values)
    if kind == Kind.BIN:
        return _ARITHMETIC[node[1]](np.asarray(a, dtype=float), b)
    if kind == Kind.CMP:
        return _COMPARE[node[1]](a, b)
    return np.logical_and(a, b) if node[1] == "and" else np.logical_or(a, b)

