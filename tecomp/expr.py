"""Expressions of the neuron and psp languages, parsed into small hashable trees.

A tree is a nested tuple, so it can sit inside a frozen spec and be part of a cache key:

    ("const", 0.5)                 a number
    ("var", "tau")                 a parameter or variable of the population (or `w` in a psp)
    ("pre", "r")                   pre.r in a psp
    ("sum", "exc")                 sum(exc): summed input of the projections with that target;
                                   ("sum", "") is sum(), the input of every target
    ("let", "v3")                  a value computed earlier in the same kernel (see specs)
    ("deriv", "r")                 dr/dt, only while an ODE is being solved
    ("call", "log", (arg, ...))    a function of FUNCTIONS, or ite(condition, a, b)
    ("bin", "+", a, b)             + - * / **
    ("neg", a)                     unary minus
    ("cmp", "<", a, b)             < <= > >= == != (conditions of ite only)
    ("bool", "and", a, b)          and, or (conditions only)
    ("not", a)                     not (conditions only)

>>> parse("w * log(1 + pre.r)")
('bin', '*', ('var', 'w'), ('call', 'log', (('bin', '+', ('const', 1.0), ('pre', 'r')),)))
"""

import ast
import math
import operator

from .errors import EquationError

Expr = tuple

# name -> number of arguments (the psp language)
FUNCTIONS = {
    "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "fabs": 1, "tanh": 1, "sin": 1, "cos": 1,
    "pos": 1, "positive": 1, "neg": 1, "negative": 1, "clip": 3, "power": 2,
}
# Marker the neuron parser writes in place of `dx/dt` (same length, so columns stay right).
DERIVATIVE = "_d"

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
# The operators that mean the same for floats, NumPy arrays and TVM expressions.
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}


def parse(source: str, line: str | None = None, offset: int = 0,
          known: set[str] | None = None, functions: dict | None = None) -> Expr:
    """Parse one expression; errors quote `line` (default: the source) with a caret under
    the column (`offset` = where `source` starts in `line`). With `known`, any other plain
    name is an error. `functions` (default FUNCTIONS) maps a name to its number of
    arguments, or to `(parameters, body)` for a user function, which is inlined; "ite" and
    DERIVATIVE are understood when present."""
    line = source if line is None else line
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as err:
        column = offset + (err.offset or 1) - 1 + (len(source) - len(source.lstrip()))
        raise EquationError(f"cannot parse the expression ({err.msg}); expected numbers, "
                            "names, + - * / ** and calls such as exp(x)", line, column) from None
    shift = offset + len(source) - len(source.lstrip())
    return _Converter(line, shift, known, FUNCTIONS if functions is None else functions)(node)


class _Converter:
    """Python's ast of one expression -> tree, with errors placed in the user's line."""

    def __init__(self, line: str, shift: int, known: set[str] | None, functions: dict):
        self.line, self.shift, self.known, self.functions = line, shift, known, functions

    def fail(self, message: str, at: ast.AST) -> EquationError:
        return EquationError(message, self.line, self.shift + getattr(at, "col_offset", 0))

    def __call__(self, node: ast.AST) -> Expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise self.fail(f"expected a number, got {node.value!r}", node)
            return ("const", float(node.value))
        if isinstance(node, ast.Name):
            if self.known is not None and node.id not in self.known:
                known_here = ", ".join(sorted(self.known)) or "none"
                raise self.fail(f"unknown name {node.id!r}; known here: {known_here}", node)
            return ("var", node.id)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "pre":
                return ("pre", node.attr)
            raise self.fail("only pre.<variable> may use a dot", node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self(node.operand)
            if isinstance(node.op, ast.UAdd):
                return inner
            return ("const", -inner[1]) if inner[0] == "const" else ("neg", inner)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self(node.left), self(node.right)
            if isinstance(node.op, ast.Div) and right == ("const", 0.0):
                raise self.fail("division by zero", node.right)
            return ("bin", _BINOPS[type(node.op)], left, right)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.call(node)
        if isinstance(node, ast.IfExp) and "ite" in self.functions:
            return ("call", "ite", (self.condition(node.test), self(node.body), self(node.orelse)))
        if isinstance(node, ast.Compare | ast.BoolOp) or (
                isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            where = "ite(condition, a, b)" if "ite" in self.functions else "a neuron's ite()"
            raise self.fail(f"a condition is only allowed as the first argument of {where}",
                            node)
        raise self.fail(f"unsupported syntax {type(node).__name__}; expected numbers, names, "
                        "+ - * / **, and function calls", node)

    def call(self, node: ast.Call) -> Expr:
        name = node.func.id
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments", node)
        if name == "sum":
            if not node.args:
                return ("sum", "")
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                raise self.fail("sum() takes one target name, e.g. sum(exc), or none", node)
            return ("sum", node.args[0].id)
        if name == DERIVATIVE and name in self.functions:
            return ("deriv", node.args[0].id)
        if name not in self.functions:
            known = ", ".join(sorted(f for f in self.functions if f != DERIVATIVE))
            raise self.fail(f"unknown function {name}(); known: sum, {known}", node)
        spec = self.functions[name]
        count = spec if isinstance(spec, int) else len(spec[0])
        if len(node.args) != count:
            raise self.fail(f"{name}() takes {count} argument(s), got {len(node.args)}", node)
        if name == "ite":
            first = self.condition(node.args[0])
            return ("call", "ite", (first, self(node.args[1]), self(node.args[2])))
        args = tuple(self(a) for a in node.args)
        if isinstance(spec, int):
            return ("call", name, args)
        params, body = spec  # a user function: its body with the arguments put in
        return substitute(body, {("var", p): a for p, a in zip(params, args, strict=True)})

    def condition(self, node: ast.AST) -> Expr:
        if isinstance(node, ast.Compare):
            operands = [self(node.left), *(self(c) for c in node.comparators)]
            tests = [("cmp", _CMPOPS[type(op)], a, b)
                     for op, a, b in zip(node.ops, operands, operands[1:], strict=False)]
            result = tests[0]
            for test in tests[1:]:  # a < b < c means a < b and b < c
                result = ("bool", "and", result, test)
            return result
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            parts = [self.condition(v) for v in node.values]
            result = parts[0]
            for part in parts[1:]:
                result = ("bool", op, result, part)
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ("not", self.condition(node.operand))
        return ("cmp", "!=", self(node), ("const", 0.0))  # a number is true when not 0, as in C


def names(expr: Expr, kind: str) -> set[str]:
    """Every name of one kind ("var", "pre", "sum", "let" or "deriv") used in the tree."""
    found = {expr[1]} if expr[0] == kind else set()
    for child in children(expr):
        found |= names(child, kind)
    return found


def substitute(expr: Expr, table: dict[Expr, Expr]) -> Expr:
    """Replace every sub-tree found in `table` (e.g. a variable by its new value)."""
    if expr in table:
        return table[expr]
    kind = expr[0]
    if kind == "call":
        return ("call", expr[1], tuple(substitute(a, table) for a in expr[2]))
    if kind in ("bin", "cmp", "bool"):
        return (kind, expr[1], substitute(expr[2], table), substitute(expr[3], table))
    if kind in ("neg", "not"):
        return (kind, substitute(expr[1], table))
    return expr


def children(expr: Expr) -> tuple[Expr, ...]:
    kind = expr[0]
    if kind == "call":
        return expr[2]
    if kind in ("bin", "cmp", "bool"):
        return (expr[2], expr[3])
    if kind in ("neg", "not"):
        return (expr[1],)
    return ()


def to_source(expr: Expr) -> str:
    """Readable form of a tree (used in messages and reprs)."""
    kind = expr[0]
    if kind == "const":
        return repr(expr[1])
    if kind in ("var", "let"):
        return expr[1]
    if kind == "pre":
        return f"pre.{expr[1]}"
    if kind == "sum":
        return f"sum({expr[1]})"
    if kind == "deriv":
        return f"d{expr[1]}/dt"
    if kind == "call":
        return f"{expr[1]}({', '.join(to_source(a) for a in expr[2])})"
    if kind == "neg":
        return f"-({to_source(expr[1])})"
    if kind == "not":
        return f"not ({to_source(expr[1])})"
    return f"({to_source(expr[2])} {expr[1]} {to_source(expr[3])})"


# -- algebra: constructors that fold constants, and linear decomposition -----------------------

ZERO, ONE = ("const", 0.0), ("const", 1.0)


def add(a: Expr, b: Expr) -> Expr:
    if a == ZERO:
        return b
    if b == ZERO:
        return a
    if a[0] == b[0] == "const":
        return ("const", a[1] + b[1])
    if b[0] == "neg":
        return sub(a, b[1])
    return ("bin", "+", a, b)


def sub(a: Expr, b: Expr) -> Expr:
    if b == ZERO:
        return a
    if a == ZERO:
        return neg(b)
    if a[0] == b[0] == "const":
        return ("const", a[1] - b[1])
    return ("bin", "-", a, b)


def mul(a: Expr, b: Expr) -> Expr:
    if ZERO in (a, b):  # only ever our own zeros: a coefficient of a term that is absent
        return ZERO
    if a == ONE:
        return b
    if b == ONE:
        return a
    if a[0] == b[0] == "const":
        return ("const", a[1] * b[1])
    return ("bin", "*", a, b)


def div(a: Expr, b: Expr) -> Expr:
    if b == ONE or a == ZERO:
        return a
    if a[0] == b[0] == "const" and b[1] != 0.0:
        return ("const", a[1] / b[1])
    return ("bin", "/", a, b)


def neg(a: Expr) -> Expr:
    if a[0] == "const":
        return ("const", -a[1])
    if a[0] == "neg":
        return a[1]
    if a[0] == "bin" and a[1] == "-":  # -(x - y) = y - x
        return sub(a[3], a[2])
    return ("neg", a)


def linear(expr: Expr, x: Expr) -> tuple[Expr, Expr] | None:
    """(a, b) with expr == a * x + b and neither a nor b containing `x`; None when expr is
    not linear in x (x inside a function, a power, a denominator, or times itself)."""
    if expr == x:
        return ONE, ZERO
    if not contains(expr, x):
        return ZERO, expr
    kind = expr[0]
    parts = [linear(c, x) for c in children(expr)]
    if None in parts:
        return None
    if kind == "neg":
        return neg(parts[0][0]), neg(parts[0][1])
    if kind != "bin" or expr[1] == "**":
        return None
    (a1, b1), (a2, b2) = parts
    op = expr[1]
    if op in ("+", "-"):
        combine = add if op == "+" else sub
        return combine(a1, a2), combine(b1, b2)
    if op == "*" and a2 == ZERO:
        return mul(a1, expr[3]), mul(b1, expr[3])
    if op == "*" and a1 == ZERO:
        return mul(expr[2], a2), mul(expr[2], b2)
    if op == "/" and a2 == ZERO:
        return div(a1, expr[3]), div(b1, expr[3])
    return None


def contains(expr: Expr, part: Expr) -> bool:
    return expr == part or any(contains(c, part) for c in children(expr))


def fold(expr: Expr) -> Expr:
    """The tree with every constant sub-expression computed (e.g. `2 * pi`, `-1 / 3`)."""
    kids = tuple(fold(c) for c in children(expr))
    if not kids or any(k[0] != "const" for k in kids) or expr[0] in ("cmp", "bool", "not"):
        return expr if not kids else _rebuild(expr, kids)
    values = [k[1] for k in kids]
    try:
        value = _evaluate(expr, values)
    except (ArithmeticError, ValueError):
        return _rebuild(expr, kids)  # e.g. log(-1): left for the kernel, as NumPy would
    return ("const", value) if math.isfinite(value) else _rebuild(expr, kids)


def _rebuild(expr: Expr, kids: tuple) -> Expr:
    if expr[0] == "call":
        return ("call", expr[1], kids)
    if expr[0] in ("neg", "not"):
        return (expr[0], kids[0])
    return (expr[0], expr[1], *kids)


_MATH = {"exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": abs, "fabs": abs,
         "tanh": math.tanh, "sin": math.sin, "cos": math.cos,
         "pos": lambda v: max(v, 0.0), "positive": lambda v: max(v, 0.0),
         "neg": lambda v: min(v, 0.0), "negative": lambda v: min(v, 0.0),
         "clip": lambda v, lo, hi: min(max(v, lo), hi), "power": math.pow}


def _evaluate(expr: Expr, values: list[float]) -> float:
    if expr[0] == "neg":
        return -values[0]
    if expr[0] == "call":
        return float(_MATH[expr[1]](*values))
    a, b = values
    op = expr[1]
    if op in ARITHMETIC:
        return ARITHMETIC[op](a, b)
    return a / b if op == "/" else math.pow(a, b)
