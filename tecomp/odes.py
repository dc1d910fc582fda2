"""ODEs: solving an equation for its derivative, and one step of a neuron as straight-line code.

The order is ANNarchy's: equations run in declaration order; consecutive ODEs form a block
whose increments are all computed from the values at the start of the block, then applied
(and clamped) one variable after the other; an assignment is clamped right after it. A
variable of type int or bool is converted after each of these assignments (C++'s
`x = value; if (x < min) x = min;` with an int or bool x).

Methods, for `tau * dx/dt + x = A` or any linear arrangement giving `dx/dt = f`:

- explicit (default): x += dt * f(x)
- midpoint: k = f(x); x += dt * f(x + dt/2 * k), every midpoint variable of the block shifted
- exponential: x += (1 - exp(-dt / tau)) * (A - x), exact for constant tau and A

>>> from tecomp.expr import parse
>>> to = lambda s: parse(s.replace("dr/dt", "_d(r)"), functions={"_d": 1})
>>> solve(("bin", "-", to("tau * dr/dt + r"), to("sum(exc)")), "r")
('bin', '/', ('bin', '-', ('sum', 'exc'), ('var', 'r')), ('var', 'tau'))
"""

import itertools

from .expr import (
    CASTS,
    ITE,
    LEAVES,
    ONE,
    ZERO,
    Expr,
    Kind,
    add,
    contains,
    div,
    fold,
    linear,
    mul,
    neg,
    sub,
    substitute,
)

METHODS = ("explicit", "exponential", "midpoint")


def solve(f: Expr, x: str) -> Expr | None:
    """dx/dt from `f == 0`; None unless f is linear in dx/dt with a coefficient."""
    parts = linear(f, (Kind.DERIV, x))
    if parts is None or parts[0] == ZERO:
        return None
    a, b = parts
    return div(neg(b), a)


def standardize(f: Expr, x: str) -> tuple[Expr, Expr] | None:
    """(tau, A) with `f == 0` equivalent to `tau * dx/dt + x = A`, neither depending on x;
    None when the ODE has no such form (the exponential method needs it)."""
    parts = linear(f, (Kind.DERIV, x))
    if parts is None or contains(parts[0], (Kind.VAR, x)):
        return None
    a, b = parts
    coefficients = linear(b, (Kind.VAR, x))
    if coefficients is None or coefficients[0] == ZERO:
        return None
    c, e = coefficients
    return div(a, c), div(neg(e), c)


def program(equations, dt: float) -> tuple[tuple[tuple[str, Expr], ...], dict[str, Expr]]:
    """One step of `equations` (neuron.Equation) as `lets`, named values computed in order
    ((Kind.LET, name) leaves refer to them), and the new value of every variable. Leaves
    ("var", name) are values at the start of the step; `dt` is folded in as a number."""
    builder = _Builder(dt)
    for ode, group in itertools.groupby(equations, key=lambda eq: eq.ode):
        if ode:
            builder.ode_block(list(group))
        else:
            for eq in group:
                builder.assign(eq)
    return tuple(builder.lets), builder.env


class _Builder:
    def __init__(self, dt: float):
        self.dt = (Kind.CONST, float(dt))
        self.lets: list[tuple[str, Expr]] = []
        self.env: dict[str, Expr] = {}  # current value of each variable assigned so far

    def value(self, name: str, env: dict | None = None) -> Expr:
        return (self.env if env is None else env).get(name, (Kind.VAR, name))

    def now(self, expr: Expr, env: dict | None = None) -> Expr:
        """`expr` in terms of the current values (or those of `env`)."""
        table = {(Kind.VAR, k): v for k, v in (self.env if env is None else env).items()}
        table[(Kind.VAR, "dt")] = self.dt
        return fold(substitute(expr, table))

    def bind(self, value: Expr) -> Expr:
        """A leaf for `value`: itself when it is one, else a new let."""
        if value[0] in LEAVES - {Kind.PRE, Kind.DERIV}:
            return value
        name = f"v{len(self.lets)}"
        self.lets.append((name, value))
        return (Kind.LET, name)

    def assign(self, eq) -> None:
        self.env[eq.target] = self.bind(self.typed(eq, self.now(eq.expr)))
        self.clamp(eq)

    def typed(self, eq, value: Expr) -> Expr:
        """`value` as the variable of `eq` holds it (int and bool convert it)."""
        kind = getattr(eq, "type", "float")
        return value if kind == "float" else fold((Kind.CALL, CASTS[f"_{kind}"].name, (value,)))

    def clamp(self, eq) -> None:
        """ANNarchy's `if (x < min) x = min; if (x > max) x = max;`."""
        for limit, op in ((eq.min, "<"), (eq.max, ">")):
            if limit is not None:
                x, bound = self.env[eq.target], self.bind(self.now(limit))
                test = (Kind.CMP, op, x, bound)
                clamped = (Kind.CALL, ITE.name, (test, self.typed(eq, bound), x))
                self.env[eq.target] = self.bind(clamped)

    def euler(self, eq, x: Expr, slope: Expr) -> Expr:
        """x + dt * f, written x * (1 + dt * a) + dt * b when f = a * x + b: the same value,
        but a decaying x then shrinks by a factor each step, where its increment alone would
        soon be a denormal, flushed to zero, and leave x stuck above zero."""
        parts = linear(self.now(eq.expr), x) if eq.method == "explicit" else None
        if parts is None or contains(parts[0], x):
            return add(x, mul(self.dt, slope))
        a, b = parts
        return add(mul(x, self.bind(fold(add(ONE, mul(self.dt, a))))), mul(self.dt, b))

    def ode_block(self, block: list) -> None:
        start = dict(self.env)
        slopes = {eq.target: self.bind(self.now(eq.expr)) for eq in block
                  if eq.method != "exponential"}
        half_dt = (Kind.CONST, 0.5 * self.dt[1])
        half = {eq.target: self.bind(add(self.value(eq.target), mul(half_dt, slopes[eq.target])))
                for eq in block if eq.method == "midpoint"}
        for eq in block:
            if eq.method == "midpoint":
                slopes[eq.target] = self.bind(self.now(eq.expr, start | half))
        new = {}
        for eq in block:
            x = self.value(eq.target)
            if eq.method == "exponential":
                decay = fold((Kind.CALL, "exp", (neg(div(self.dt, self.now(eq.tau))),)))
                step = self.bind(fold(sub(ONE, decay)))
                new[eq.target] = add(x, mul(step, sub(self.bind(self.now(eq.steady)), x)))
            else:
                new[eq.target] = self.euler(eq, x, slopes[eq.target])
        for eq in block:
            self.env[eq.target] = self.bind(self.typed(eq, new[eq.target]))
            self.clamp(eq)
