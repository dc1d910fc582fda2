"""Constants: named numbers that every equation of a network may read, as ANNarchy 5's.

    tau = ann.Constant("tau", 20.0)            # global: the default network, and every network
    g = net.constant("g", 0.5)                 # one network's own
    neuron = ann.Neuron(equations="tau * dr/dt + r = g * sum(exc)")
    ...
    tau.set(10.0)                              # after compile() too: the next step uses it

A constant is a `float` (its value when created, like ANNarchy's), with `name`, `value` (the
current one) and `set(value)`; `c.value = v` does the same as `c.set(v)`. Its name is known to
the neuron language once the constant exists, so create it before the Neuron that reads it.
A compiled kernel reads a constant as a one-value argument, so `set()` needs no rebuild.

Global constants live in the default network (they are forgotten by `clear()`) and are
visible in every network; a network's own constant may not take a global one's name. A
constant may not be named like a parameter, variable or function of a neuron that uses it
(checked when the network is compiled), nor like anything the language reserves.
"""

import keyword
import weakref
from collections.abc import Callable

import numpy as np

from .errors import InvalidTypeError, InvalidValueError
from .values import LARGEST, number, show

# Where a constant created without a network goes: `tecomp.network` sets this to its
# `default_network` (a layer below the networks cannot import them).
_home: Callable[[], object] | None = None
# network -> {name: Constant}; a constant holds its network weakly, so a forgotten network
# (after clear()) takes its constants with it.
_TABLES: "weakref.WeakKeyDictionary[object, dict[str, Constant]]" = weakref.WeakKeyDictionary()


def set_home(default_network: Callable[[], object]) -> None:
    """Tell where global constants go: the network `default_network()` returns now."""
    global _home
    _home = default_network


def _global_network():
    if _home is None:
        raise InvalidValueError("Constant: import tecomp first (it creates the default "
                                "network that global constants belong to)")
    return _home()


class Constant(float):
    """A named number every equation may read; `set()` changes it, also after compile().

    >>> import tecomp as ann
    >>> ann.clear()
    >>> tau = ann.Constant("tau", 20.0)
    >>> tau.value, float(tau), tau.name
    (20.0, 20.0, 'tau')
    >>> tau.set(10.0); tau.value, float(tau)  # float(tau) keeps the value it was made with
    (10.0, 20.0)
    """

    def __new__(cls, name: str, value: float, network=None):
        return float.__new__(cls, _value(name if isinstance(name, str) else "?", value))

    def __init__(self, name: str, value: float, network=None):
        _check_name(name)
        self.name = name
        self._value = float(self)
        self._buffers: list[weakref.ref] = []  # the one-value arrays compiled kernels read
        owner = _global_network() if network is None else network
        self._network = weakref.ref(owner)
        _register(self, owner, network is None)

    @property
    def network(self):
        """The network the constant belongs to (the default network for a global one)."""
        return self._network()

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, value: float) -> None:
        self.set(value)

    def set(self, value: float) -> None:
        """Change the value; compiled networks use it from their next step on."""
        new = _value(self.name, value)
        buffers = self.buffers()
        for buffer in buffers:  # check every precision first: all or nothing changes
            largest = LARGEST[str(buffer.dtype)]
            if abs(new) > largest:
                raise InvalidValueError(f"Constant {self.name}: the value must fit the "
                                        f"precision of the networks that read it, got "
                                        f"{show(value)} (largest {buffer.dtype} value "
                                        f"{largest:.8g})")
        self._value = new
        for buffer in buffers:
            buffer[0] = new

    def attach(self, buffer: np.ndarray) -> None:
        """Keep the one-value array a compiled kernel reads in step with `value`."""
        largest = LARGEST[str(buffer.dtype)]
        if abs(self._value) > largest:
            raise InvalidValueError(f"Constant {self.name} = {self._value!r} does not fit "
                                    f"{buffer.dtype} (largest {largest:.8g}), the network's "
                                    "precision")
        buffer[0] = self._value
        self._buffers.append(weakref.ref(buffer))

    def buffers(self) -> list[np.ndarray]:
        """The live arrays of compiled networks that read this constant."""
        live = [b for b in (ref() for ref in self._buffers) if b is not None]
        self._buffers = [weakref.ref(b) for b in live]
        return live

    def __str__(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return f"Constant({self.name!r}, {self._value!r})"

    def __reduce__(self):  # a copy is a plain float: a second constant of that name is an error
        return float, (self._value,)


def _value(name: str, value) -> float:
    return number(value, "Constant", f"the value of {name}", "a finite real number")


def _check_name(name) -> None:
    from .neuron import RESERVED  # same layer; imported late, neuron imports this module

    if not isinstance(name, str):
        raise InvalidTypeError(f"Constant: the name must be a string, got {show(name)}")
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise InvalidValueError(f"Constant: {name!r} is not a valid name (an identifier not "
                                "starting with _)")
    if name in RESERVED:
        raise InvalidValueError(f"Constant: {name!r} is reserved by the neuron language "
                                "(t, dt, pi, true/false, sum, and the function names)")


def _register(constant: Constant, owner, is_global: bool) -> None:
    table = _TABLES.setdefault(owner, {})
    if constant.name in table:
        raise InvalidValueError(f"Constant: a constant named {constant.name!r} already exists "
                                "in this network")
    if not is_global and constant.name in _TABLES.get(_global_network(), {}):
        raise InvalidValueError(f"Constant: {constant.name!r} is already a global constant "
                                "(ann.Constant), which every network sees; choose another name")
    for pop in getattr(owner, "populations", ()):
        clash = _clash(pop.neuron, constant.name)
        if clash:
            raise InvalidValueError(f"Constant: {constant.name!r} is the name of {clash} of "
                                    f"population {pop.name}; choose another name")
    table[constant.name] = constant


def _clash(neuron, name: str) -> str:
    """What of a neuron has this name ('' if nothing)."""
    if name in neuron.parameters:
        return "a parameter"
    if name in neuron.variables:
        return "a variable"
    if name in neuron.functions:
        return "a function"
    return ""


def visible(network) -> dict[str, Constant]:
    """The constants a network's equations may read: the global ones and its own."""
    own = _TABLES.get(network, {})
    home = _home() if _home is not None else None
    shared = _TABLES.get(home, {}) if home is not None and home is not network else {}
    return shared | own


def names() -> set[str]:
    """The names of every constant that exists (what the neuron parser accepts)."""
    return set().union(*(table.keys() for table in list(_TABLES.values())))


def check_network(network) -> None:
    """Refuse a network whose neurons use a constant's name for their own attribute or
    function (the equations would be ambiguous)."""
    table = visible(network)
    for pop in network.populations:
        for name in table:
            clash = _clash(pop.neuron, name)
            if clash:
                raise InvalidValueError(f"Population {pop.name}: its neuron has {clash} named "
                                        f"{name!r}, the name of a Constant of this network; "
                                        "rename one of them")
