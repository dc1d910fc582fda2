"""Rate-coded synapse types of regular projections: parameters, psp and operation.

The language is ANNarchy's. `psp` is any expression of `w`, the synapse's parameters,
`pre.x` and `post.x` (per-neuron attributes of the populations), Constants (created
before the Synapse; changeable after compile()) and the functions of
`tecomp.expr.FUNCTIONS`; `operation` combines the psps of a post neuron's synapses: "sum"
(default), "max", "min" or "mean".

    parameters: in a string, one value per synapse unless flagged `: projection` (one
        value for the projection) or `: postsynaptic` (one per post neuron), as in
        ANNarchy; in a dict, one value for the projection unless a value is
        `Parameter(v, locality="local")` (or "semiglobal"/"postsynaptic").

Learning rules (`equations`) and spiking synapses are not part of tecomp: they are refused
here, with a message that says so.
"""

import keyword

from . import constants
from .errors import EquationError, InvalidTypeError, InvalidValueError
from .expr import Kind, fold, names, parse
from .neuron import CONSTANTS, RESERVED, Parameter, _lines, _parse_functions, _split_flags
from .specs import OPERATIONS
from .values import number, show

# Where a parameter's values live: one per synapse, per post neuron, or per projection.
LOCAL, POSTSYNAPTIC, PROJECTION = "local", "postsynaptic", "projection"
_LOCALITIES = {"local": LOCAL, "semiglobal": POSTSYNAPTIC, "postsynaptic": POSTSYNAPTIC,
               "global": PROJECTION, "projection": PROJECTION, "population": PROJECTION}


class Synapse:
    """A rate-coded synapse type.

    >>> s = Synapse(parameters="g = 0.5 : projection", psp="g * w * pre.r")
    >>> s.parameters, s.locality["g"], s.operation
    ({'g': 0.5}, 'projection', 'sum')
    """

    def __init__(self, parameters: str | dict = "", equations: str | list = "",
                 psp: str | None = None, operation: str = "sum", pre_spike=None,
                 post_spike=None, pre_axon_spike=None, functions: str | None = None,
                 pruning=None, creating=None, name: str | None = None,
                 description: str | None = None):
        for what, value in (("pre_spike", pre_spike), ("post_spike", post_spike),
                            ("pre_axon_spike", pre_axon_spike), ("pruning", pruning),
                            ("creating", creating)):
            if value is not None:
                raise InvalidValueError(f"Synapse: {what} belongs to spiking or structurally "
                                        "plastic synapses, which tecomp does not have "
                                        "(rate-coded projections only)")
        if equations not in ("", None, []):
            raise InvalidValueError("Synapse: equations (learning rules) are not supported by "
                                    "tecomp yet; the weights of a projection change only when "
                                    "you set them (proj.w = ..., proj.set({'w': ...}))")
        if not isinstance(operation, str) or operation not in OPERATIONS:
            raise InvalidValueError(f"Synapse: operation must be one of {', '.join(OPERATIONS)},"
                                    f" got {show(operation)}")
        self.name = name or "Synapse"
        self.description = description
        self.functions = _parse_functions(functions)
        self.parameters, self.locality = _parse_parameters(parameters)
        self.operation = operation
        self.psp = "w * pre.r" if psp is None else psp
        if not isinstance(self.psp, str):
            raise InvalidTypeError(f"Synapse: psp must be a string, got {show(self.psp)}")
        self.psp_tree = fold(parse(self.psp, known={"w", *self.parameters, *constants.names()},
                                   functions=self.functions | _builtin_functions(),
                                   constants=CONSTANTS, post=True))
        for kind in (Kind.SUM, Kind.GLOBAL):
            if names(self.psp_tree, kind):
                raise EquationError("Synapse: a psp reads w, the synapse's parameters, pre.x "
                                    "and post.x only", self.psp)

    def __repr__(self) -> str:
        return (f"Synapse(parameters={self.parameters}, psp={self.psp!r}, "
                f"operation={self.operation!r})")


def _builtin_functions() -> dict:
    from .expr import FUNCTIONS, ITE

    return FUNCTIONS | {ITE.name: ITE}


def _parse_parameters(parameters) -> tuple[dict[str, float], dict[str, str]]:
    """(values, {name: LOCAL, POSTSYNAPTIC or PROJECTION})."""
    values, locality = {}, {}
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            _check_name(key)
            where = PROJECTION
            if isinstance(value, Parameter):
                if value.locality not in _LOCALITIES:
                    raise InvalidValueError(f"Synapse: parameter {key}: locality must be "
                                            "'local', 'semiglobal' or 'global', got "
                                            f"{show(value.locality)}")
                where, value = _LOCALITIES[value.locality], value.value
            values[key] = number(value, "Synapse", f"parameter {key}", "a number")
            locality[key] = where
        return values, locality
    if not isinstance(parameters, str):
        raise InvalidTypeError(f"Synapse: parameters must be a string or a dict, got "
                               f"{type(parameters).__name__}")
    for line in _lines(parameters):
        body, flags = _split_flags(line)
        if "=" not in body:
            raise EquationError("Synapse parameters: expected 'name = value'", line, len(body))
        name, text = (part.strip() for part in body.split("=", 1))
        _check_name(name, line)
        if name in values:
            raise EquationError(f"Synapse parameters: {name} is defined twice", line)
        expr = fold(parse(text, line, body.index("=") + 1, known=set(CONSTANTS),
                          constants=CONSTANTS))
        if expr[0] != Kind.CONST:
            raise EquationError("Synapse parameters: the value must be a number", line)
        where = LOCAL
        for key, value, column, _ in flags:
            if value is None and key in ("projection", "postsynaptic", "population"):
                where = _LOCALITIES[key]
            else:
                raise EquationError(f"Synapse parameters: unknown flag {key!r}; the flags of a "
                                    "synapse parameter are projection and postsynaptic", line,
                                    column)
        values[name], locality[name] = expr[1], where
    return values, locality


def _check_name(name, line: str | None = None) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name) or \
            name in RESERVED or name in ("w", "pre", "post"):
        message = (f"Synapse: parameter name {show(name)} is not a valid name (an identifier "
                   "other than w, pre, post, t, dt, pi, sum or a function)")
        if line is None:
            raise InvalidValueError(message)
        raise EquationError(message, line)
