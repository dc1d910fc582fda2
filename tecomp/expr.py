"""Expressions of the neuron and psp languages, parsed into small hashable trees.

A tree is a nested tuple, so it can sit inside a frozen spec and be part of a cache key:

    ("const", 0.5)                 a number
    ("var", "tau")                 a parameter or variable of the population (or `w` in a psp)
    ("pre", "r")                   pre.r in a psp
    ("sum", "exc")                 sum(exc): summed input of the projections with that target
    ("call", "log", (arg, ...))    a function of FUNCTIONS
    ("bin", "+", a, b)             + - * / **
    ("neg", a)                     unary minus

>>> parse("w * log(1 + pre.r)")
('bin', '*', ('var', 'w'), ('call', 'log', (('bin', '+', ('const', 1.0), ('pre', 'r')),)))
"""

import ast

from .errors import EquationError

Expr = tuple

# name -> number of arguments
FUNCTIONS = {
    "exp": 1, "log": 1, "sqrt": 1, "abs": 1, "fabs": 1, "tanh": 1, "sin": 1, "cos": 1,
    "pos": 1, "positive": 1, "neg": 1, "negative": 1, "clip": 3, "power": 2,
}

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


def parse(source: str, line: str | None = None, offset: int = 0,
          known: set[str] | None = None) -> Expr:
    """Parse one expression; errors quote `line` (default: the source) with a caret under
    the column (`offset` = where `source` starts in `line`). With `known`, any other plain
    name is an error."""
    line = source if line is None else line
    try:
        node = ast.parse(source.strip(), mode="eval").body
    except SyntaxError as err:
        column = offset + (err.offset or 1) - 1 + (len(source) - len(source.lstrip()))
        raise EquationError(f"cannot parse {source.strip()!r}: {err.msg}", line, column) from None
    shift = offset + len(source) - len(source.lstrip())
    return _convert(node, line, shift, known)


def _convert(node: ast.AST, line: str, shift: int, known: set[str] | None) -> Expr:
    def fail(message: str, at: ast.AST = node) -> EquationError:
        return EquationError(message, line, shift + getattr(at, "col_offset", 0))

    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise fail(f"expected a number, got {node.value!r}")
        return ("const", float(node.value))
    if isinstance(node, ast.Name):
        if known is not None and node.id not in known:
            known_here = ", ".join(sorted(known)) or "none"
            raise fail(f"unknown name {node.id!r}; known here: {known_here}")
        return ("var", node.id)
    if isinstance(node, ast.Attribute):
        if isinstance(node.value, ast.Name) and node.value.id == "pre":
            return ("pre", node.attr)
        raise fail("only pre.<variable> may use a dot")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _convert(node.operand, line, shift, known)
        if isinstance(node.op, ast.UAdd):
            return inner
        return ("const", -inner[1]) if inner[0] == "const" else ("neg", inner)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left = _convert(node.left, line, shift, known)
        right = _convert(node.right, line, shift, known)
        if isinstance(node.op, ast.Div) and right == ("const", 0.0):
            raise fail("division by zero", node.right)
        return ("bin", _BINOPS[type(node.op)], left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _convert_call(node, line, shift, known, fail)
    raise fail(f"unsupported syntax {type(node).__name__}; expected numbers, names, "
               "+ - * / **, and function calls")


def _convert_call(node: ast.Call, line: str, shift: int, known, fail) -> Expr:
    name = node.func.id
    if node.keywords:
        raise fail(f"{name}() takes no keyword arguments")
    if name == "sum":
        if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
            raise fail("sum() takes one target name, e.g. sum(exc)")
        return ("sum", node.args[0].id)
    if name not in FUNCTIONS:
        raise fail(f"unknown function {name}(); known: sum, {', '.join(sorted(FUNCTIONS))}")
    if len(node.args) != FUNCTIONS[name]:
        raise fail(f"{name}() takes {FUNCTIONS[name]} argument(s), got {len(node.args)}")
    return ("call", name, tuple(_convert(a, line, shift, known) for a in node.args))


def names(expr: Expr, kind: str) -> set[str]:
    """Every name of one kind ("var", "pre" or "sum") used in the tree."""
    found = {expr[1]} if expr[0] == kind else set()
    for child in children(expr):
        found |= names(child, kind)
    return found


def substitute(expr: Expr, table: dict[Expr, Expr]) -> Expr:
    """Replace every sub-tree found in `table` (e.g. a variable by its new value)."""
    if expr in table:
        return table[expr]
    if expr[0] == "call":
        return ("call", expr[1], tuple(substitute(a, table) for a in expr[2]))
    if expr[0] == "bin":
        return ("bin", expr[1], substitute(expr[2], table), substitute(expr[3], table))
    if expr[0] == "neg":
        return ("neg", substitute(expr[1], table))
    return expr


def children(expr: Expr) -> tuple[Expr, ...]:
    if expr[0] == "call":
        return expr[2]
    if expr[0] == "bin":
        return (expr[2], expr[3])
    if expr[0] == "neg":
        return (expr[1],)
    return ()


def to_source(expr: Expr) -> str:
    """Readable form of a tree (used in messages and reprs)."""
    kind = expr[0]
    if kind == "const":
        return repr(expr[1])
    if kind == "var":
        return expr[1]
    if kind == "pre":
        return f"pre.{expr[1]}"
    if kind == "sum":
        return f"sum({expr[1]})"
    if kind == "call":
        return f"{expr[1]}({', '.join(to_source(a) for a in expr[2])})"
    if kind == "neg":
        return f"-({to_source(expr[1])})"
    return f"({to_source(expr[2])} {expr[1]} {to_source(expr[3])})"
