"""Expressions of the neuron and psp languages, parsed into small hashable trees.

A tree is a nested tuple whose first element is its `Kind`, so it can sit inside a frozen
spec and be part of a cache key:

    ("const", 0.5)                 a number
    ("var", "tau")                 a parameter or variable of the population (or `w` in a psp)
    ("pre", "r")                   pre.r in a psp
    ("post", "r")                  post.r in the psp of a regular projection
    ("sum", "exc")                 sum(exc): summed input of the projections with that target;
                                   ("sum", "") is sum(), the input of every target
    ("let", "v3")                  a value computed earlier in the same kernel (see specs)
    ("deriv", "r")                 dr/dt, only while an ODE is being solved
    ("call", "log", (arg, ...))    a function of FUNCTIONS, or ite(condition, a, b)
    ("bin", "+", a, b)             + - * / **
    ("neg", a)                     unary minus
    ("cmp", "<", a, b)             < <= > >= == != (conditions of ite only; `is` is ==)
    ("bool", "and", a, b)          and, or (conditions only)
    ("not", a)                     not (conditions only)
    ("global", "mean(r)")          a population-wide operation of the neuron language
                                   (mean, max, min, norm1, norm2 of a per-neuron variable)
    ("rand", "Normal", 0, (mu, sigma, None, None))
                                   a random draw of the neuron language: the distribution,
                                   the draw's index within the update, and its parameters
                                   (trees: numbers or one-value names; None where a clip
                                   bound of the distribution class is absent)

The neuron language also writes ANNarchy's `if condition: a else: b` (nested without
parentheses, `if a: if b: 1 else: 2 else: 3`, or inside them), parsed into the same
("call", "ite", ...) node as `ite(condition, a, b)`.

>>> parse("w * log(1 + pre.r)")
('bin', '*', ('var', 'w'), ('call', 'log', (('bin', '+', ('const', 1.0), ('pre', 'r')),)))
"""

import ast
import io
import math
import operator
import re
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .errors import EquationError
from .values import LARGEST, show

Expr = tuple

# The size of one expression (a psp, an equation side, a parameter value, a function body),
# after user functions are inlined: at most MAX_NODES nodes nested at most MAX_DEPTH deep, and
# at most MAX_CHARS characters of source. The recursive tree walks below (and TE lowering) then
# stay far below Python's recursion limit.
MAX_NODES = 2000
MAX_DEPTH = 200
MAX_CHARS = 100_000


class Kind(StrEnum):
    """The node kinds of a tree. Members are strings (`Kind.BIN == "bin"`), so trees stay
    plain tuples that hash, compare and serialise to JSON like the strings they hold."""

    CONST = "const"
    VAR = "var"
    PRE = "pre"
    POST = "post"
    SUM = "sum"
    LET = "let"
    DERIV = "deriv"
    CALL = "call"
    BIN = "bin"
    NEG = "neg"
    CMP = "cmp"
    BOOL = "bool"
    NOT = "not"
    GLOBAL = "global"
    RAND = "rand"

    __hash__ = str.__hash__  # equal to its string, so it must hash like it
    __repr__ = str.__repr__


# Nodes without sub-trees (a random draw has its parameters as sub-trees).
LEAVES = frozenset({Kind.CONST, Kind.VAR, Kind.PRE, Kind.POST, Kind.SUM, Kind.LET, Kind.DERIV,
                    Kind.GLOBAL})
_BINARY = frozenset({Kind.BIN, Kind.CMP, Kind.BOOL})  # (kind, op, a, b)
_UNARY_KINDS = frozenset({Kind.NEG, Kind.NOT})  # (kind, a)


@dataclass(frozen=True)
class Function:
    """One function of the languages, stated once: the parser checks `arity`, the constant
    folder calls `evaluate` on floats, and lowering calls `lower(tvm, *args)` where `tvm`
    has the `te` and `tirx` modules and the kernel's `dtype` (so this module imports
    without TVM)."""

    name: str
    arity: int
    evaluate: Callable[..., float]
    lower: Callable


def _zero(tvm, _x):
    return tvm.tirx.const(0.0, tvm.dtype)


def _functions(*table: Function) -> dict[str, Function]:
    return {f.name: f for f in table}


# the psp language (and the neuron language, which adds ITE and user functions)
FUNCTIONS = _functions(
    Function("exp", 1, math.exp, lambda tvm, x: tvm.te.exp(x)),
    Function("log", 1, math.log, lambda tvm, x: tvm.te.log(x)),
    Function("sqrt", 1, math.sqrt, lambda tvm, x: tvm.te.sqrt(x)),
    Function("abs", 1, abs, lambda tvm, x: tvm.te.abs(x)),
    Function("fabs", 1, abs, lambda tvm, x: tvm.te.abs(x)),
    Function("tanh", 1, math.tanh, lambda tvm, x: tvm.te.tanh(x)),
    Function("sin", 1, math.sin, lambda tvm, x: tvm.te.sin(x)),
    Function("cos", 1, math.cos, lambda tvm, x: tvm.te.cos(x)),
    Function("pos", 1, lambda v: max(v, 0.0), lambda tvm, x: tvm.tirx.Max(x, _zero(tvm, x))),
    Function("positive", 1, lambda v: max(v, 0.0),
             lambda tvm, x: tvm.tirx.Max(x, _zero(tvm, x))),
    Function("neg", 1, lambda v: min(v, 0.0), lambda tvm, x: tvm.tirx.Min(x, _zero(tvm, x))),
    Function("negative", 1, lambda v: min(v, 0.0),
             lambda tvm, x: tvm.tirx.Min(x, _zero(tvm, x))),
    Function("clip", 3, lambda v, lo, hi: min(max(v, lo), hi),
             lambda tvm, x, lo, hi: tvm.tirx.Min(tvm.tirx.Max(x, lo), hi)),
    Function("power", 2, math.pow, lambda tvm, x, y: tvm.te.power(x, y)),
)
# ite(condition, a, b): both branches are computed, so the loop vectorises
ITE = Function("ite", 3, lambda c, a, b: a if c else b,
               lambda tvm, c, a, b: tvm.tirx.Select(c, a, b))
# What an assignment to an `: int` or `: bool` attribute does to the value, as C++ does in
# ANNarchy: int truncates toward zero, bool is 1 unless the value is 0. Internal names (a
# user cannot call them); values stay in the network's float type.
TO_INT = Function("_int", 1, lambda v: float(math.trunc(v)), lambda tvm, x: tvm.te.trunc(x))
TO_BOOL = Function("_bool", 1, lambda v: 0.0 if v == 0 else 1.0,
                   lambda tvm, x: tvm.tirx.Select(x != tvm.tirx.const(0.0, tvm.dtype),
                                                  tvm.tirx.const(1.0, tvm.dtype),
                                                  tvm.tirx.const(0.0, tvm.dtype)))
CASTS = {TO_INT.name: TO_INT, TO_BOOL.name: TO_BOOL}


@dataclass(frozen=True)
class Reduction:
    """A population-wide operation of the neuron language, `mean(r)`: one value computed
    over every neuron of the population. `numpy(values)` is its definition (accumulated in
    float64), the one the compiled reduction is tested against."""

    name: str
    numpy: Callable[[np.ndarray], float]


# ANNarchy's global operations; norm2 is the Euclidean norm (sqrt of the sum of squares).
REDUCTIONS = {r.name: r for r in (
    Reduction("mean", lambda v: float(np.mean(v, dtype=np.float64))),
    Reduction("max", lambda v: float(np.max(v))),
    Reduction("min", lambda v: float(np.min(v))),
    Reduction("norm1", lambda v: float(np.sum(np.abs(v), dtype=np.float64))),
    Reduction("norm2", lambda v: float(np.sqrt(np.sum(np.square(v, dtype=np.float64))))),
)}


@dataclass(frozen=True)
class Draw:
    """A random distribution the neuron language may call, `Normal(0.0, 0.1)`: a fresh draw
    per neuron and per step. `arity` positional arguments, each a number or a one-value name
    (a population-wide parameter, a Constant); `check(arguments)` takes their trees,
    validates the numbers (raising the distribution's error) and returns the trees of the
    distribution's full parameter tuple, None where the call leaves a clip bound absent."""

    name: str
    arity: int
    check: Callable[[tuple], tuple]  # argument trees -> parameter trees (None: absent)


def global_name(operation: str, variable: str) -> str:
    """The name of a population-wide operation's value: `mean(r)`."""
    return f"{operation}({variable})"


def is_global(name: str) -> bool:
    """Whether a one-value input's name is that of a population-wide operation."""
    return "(" in name


def global_parts(name: str) -> tuple[str, str]:
    """`mean(r)` -> ("mean", "r")."""
    operation, _, rest = name.partition("(")
    return operation, rest[:-1]


# Marker the neuron parser writes in place of `dx/dt` (same length, so columns stay right).
DERIVATIVE = "_d"

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
# The operators that mean the same for floats, NumPy arrays and TVM expressions.
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul}
# ANNarchy reads `is` as == and `is not` as != (t is 1).
_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.Is: "==", ast.IsNot: "!="}


def parse(source: str, line: str | None = None, offset: int = 0,
          known: set[str] | None = None, functions: dict | None = None,
          constants: dict[str, float] | None = None, dtype: str = "float64",
          truth: bool = False, post: bool = False) -> Expr:
    """Parse one expression; errors quote `line` (default: the source) with a caret under
    the column (`offset` = where `source` starts in `line`). With `known`, any other plain
    name is an error. `functions` (default FUNCTIONS) maps a name to its `Function`, or
    to `(parameters, body)` for a user function, which is inlined; ITE (with ANNarchy's
    `if c: a else: b`), DERIVATIVE, the REDUCTIONS and `draws` (see `Draws`) are understood
    when present. `constants` are names read as numbers (e.g. pi). With `truth`, the whole
    expression may be a condition, worth 1 when true and 0 when false (a bool variable).
    With `post`, `post.x` is a leaf too (the psp of a regular projection).

    Constant sub-expressions are computed here (`-1 / 3` is one number): a division by a
    constant zero, a constant that overflows, or one with no real value (`log(-1)`) is an
    error, as is a constant beyond the largest number of `dtype`, and an expression larger
    than MAX_NODES nodes, MAX_DEPTH levels or MAX_CHARS characters."""
    line = source if line is None else line
    if len(source) > MAX_CHARS:
        raise EquationError(f"the expression has {len(source)} characters; at most "
                            f"{MAX_CHARS} are allowed", _short(line))
    converter = _Converter(line, 0, known, FUNCTIONS if functions is None else functions,
                           constants or {}, post)
    try:
        if ITE.name in converter.functions and _IF_HINT.search(source):
            tree = _IfSyntax(converter, source, offset).parse(truth)
        else:
            tree = converter.convert(source, offset, "truth" if truth else "value")
    except RecursionError:  # nested far past MAX_DEPTH (e.g. hundreds of if: ... else:)
        raise EquationError(f"the expression is nested too deeply to parse; {_LIMITS}",
                            _short(line)) from None
    nodes, depth = measure(tree)
    if nodes > MAX_NODES or depth > MAX_DEPTH:
        raise EquationError(f"the expression is too large ({nodes} nodes, nested {depth} "
                            f"deep); {_LIMITS}", _short(line))
    problem = constant_problem(tree, dtype)
    if problem:
        raise EquationError(f"{problem}; the network's precision is {dtype}", line)
    return tree


# Names of the neuron language's truth values: known everywhere, so not worth listing.
_BOOLEAN_NAMES = frozenset({"True", "False", "true", "false"})
_IF_HINT = re.compile(r"\bif\b.*:")
_SKIP_TOKENS = (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT,
                tokenize.DEDENT, tokenize.COMMENT)


class _IfSyntax:
    """ANNarchy's `if condition: a else: b` in a neuron expression.

    The `if` opens an expression (the right-hand side, a branch, or a parenthesised group);
    the condition runs to the next ':', the first branch to its `else:` (the innermost `if`
    takes the first `else:`, so `if a: if b: 1 else: 2 else: 3` nests without parentheses),
    and the second branch to the end of the expression or of the group. Each piece is
    parsed at its own column, so errors point into the user's line; a parenthesised `if`
    inside a larger expression is replaced by a name of the same length while the rest is
    parsed. A Python conditional (`a if c else b`) is left to Python's parser.

    The tokens are matched once, in linear time (brackets, each `if` with its ':' and its
    `else:`), and more than MAX_DEPTH nested ifs are refused before any piece is parsed."""

    def __init__(self, converter: "_Converter", source: str, offset: int):
        self.converter, self.source, self.offset = converter, source, offset
        self.line = converter.line
        try:
            self.tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                           if t.type not in _SKIP_TOKENS]
        except (tokenize.TokenError, SyntaxError):  # unbalanced: Python's parser says where
            self.tokens = None
        self.placeholders: dict[str, Expr] = {}

    def parse(self, truth: bool) -> Expr:
        mode = "truth" if truth else "value"
        if not self.tokens or any(t.start[0] != 1 for t in self.tokens) or not self.match():
            return self.converter.convert(self.source, self.offset, mode)
        return self.region(0, len(self.tokens), mode, 0)

    # -- tokens ---------------------------------------------------------------------------
    def text(self, i: int) -> str:
        return self.tokens[i].string

    def column(self, i: int) -> int:
        return self.offset + self.tokens[i].start[1]

    def fail(self, message: str, i: int) -> EquationError:
        return EquationError(message, self.line, self.column(i))

    def match(self) -> bool:
        """Pair the tokens: `closing[i]` for each opening bracket, `colon[i]` and `orelse[i]`
        (the index of its `else`) for each `if` that opens an expression, `next_colon[i]` the
        next ':' at the same bracket depth. False when the brackets do not pair (Python's
        parser then says where)."""
        n = len(self.tokens)
        texts = [t.string for t in self.tokens]
        self.depth, self.closing, self.colon, self.orelse = [0] * n, {}, {}, {}
        self.opening = set()
        brackets: list[int] = []
        pending: dict[int, list[int]] = {}  # per depth: ifs waiting for their colon or else
        for i, text in enumerate(texts):
            if text in ")]}":
                if not brackets:
                    return False
                self.closing[brackets.pop()] = i
            depth = self.depth[i] = len(brackets)
            if text in "([{":
                brackets.append(i)
            elif text == "if" and (i == 0 or texts[i - 1] in (":", "(", ",", "=")):
                self.opening.add(i)
                pending.setdefault(depth, []).append(i)
            elif text == ":" and i and texts[i - 1] != "else":
                waiting = [j for j in pending.get(depth, ())[-1:] if j not in self.colon]
                if waiting:
                    self.colon[waiting[0]] = i
            elif text == "else" and i + 1 < n and texts[i + 1] == ":":
                stack = pending.get(depth, [])
                while stack and stack[-1] not in self.colon:
                    stack.pop()  # an if without its colon: reported when it is parsed
                if stack:
                    self.orelse[stack.pop()] = i
        if brackets:
            return False
        self.next_colon, last = [n] * n, {}
        for i in range(n - 1, -1, -1):
            self.next_colon[i] = last.get(self.depth[i], n)
            if texts[i] == ":":
                last[self.depth[i]] = i
        return True

    # -- pieces ---------------------------------------------------------------------------
    def region(self, lo: int, hi: int, mode: str, level: int) -> Expr:
        """The tokens lo..hi-1 as one expression (`mode` as `_Converter.convert`); `level`
        counts the ifs around it."""
        if lo >= hi:
            after = self.tokens[lo - 1].end[1] if lo > 0 else 0
            raise EquationError("expected an expression here", self.line, self.offset + after)
        if lo in self.opening:
            return self.ite(lo, hi, level)
        text = list(self.source)
        i = lo
        while i < hi:
            if self.text(i) == "if" and i not in self.opening and self.next_colon[i] < hi:
                raise self.fail("'if condition: a else: b' must start an expression (right "
                                "after '=', ':' or '('); put it in parentheses, e.g. "
                                "2 * (if c: a else: b)", i)
            if self.text(i) == "(" and i + 1 in self.opening:
                close = self.closing[i]
                tree = self.ite(i + 1, close, level)
                start, end = self.tokens[i + 1].start[1], self.tokens[close - 1].end[1]
                name = f"_{len(self.placeholders)}_".ljust(end - start, "_")
                text[start:end] = name
                self.placeholders[name] = tree
                i = close + 1
            else:
                i += 1
        start, end = self.tokens[lo].start[1], self.tokens[hi - 1].end[1]
        return self.converter.convert("".join(text[start:end]), self.offset + start, mode,
                                      self.placeholders)

    def ite(self, lo: int, hi: int, level: int) -> Expr:
        """`if c: a else: b` over tokens lo..hi-1 (token lo is the `if`)."""
        if level >= MAX_DEPTH:
            raise EquationError(f"the expression is nested too deeply to parse (more than "
                                f"{MAX_DEPTH} ifs inside each other); {_LIMITS}",
                                _short(self.line))
        colon, found = self.colon.get(lo), self.orelse.get(lo)
        if colon is None or colon >= hi:
            raise self.fail("this if needs ':' after its condition, as in "
                            "'if condition: a else: b'", lo)
        if found is None or found >= hi:
            raise self.fail("this if has no 'else:'; write 'if condition: a else: b' (both "
                            "branches are computed, one is kept)", lo)
        condition = self.region(lo + 1, colon, "condition", level + 1)
        return (Kind.CALL, ITE.name, (condition,
                                      self.region(colon + 1, found, "value", level + 1),
                                      self.region(found + 2, hi, "value", level + 1)))


_LIMITS = (f"an expression may have at most {MAX_NODES} nodes (numbers, names, operators, "
           "calls; user functions count inlined, the argument of tanh 5 times and the base "
           f"of x**2 .. x**4 2 to 4 times, as compiled), nested at most {MAX_DEPTH} deep")


def _short(line: str) -> str:
    """A line as quoted in a message about its size."""
    return line if len(line) <= 80 else line[:77] + "..."


def _ast_shape(node: ast.AST) -> tuple[int, int]:
    """(expression nodes, depth) of a Python ast, without recursion."""
    count, deepest, stack = 0, 0, [(node, 1)]
    while stack:
        here, depth = stack.pop()
        count += 1
        deepest = max(deepest, depth)
        if count > 4 * MAX_NODES:
            break
        stack.extend((c, depth + 1) for c in ast.iter_child_nodes(here)
                     if isinstance(c, ast.expr))
    return count, deepest


# How many times the kernel compiler writes out the argument of these calls: TVM expands
# tanh(x) into a formula that reads x five times, and lowering writes x**2 .. x**4 as
# products. Nested, they grow geometrically, so `measure` counts them that way.
_COPIES = {"tanh": 5}
_POWERS = {2.0: 2, 3.0: 3, 4.0: 4}


def _copies(node: Expr) -> int:
    """How many times the compiler writes out the first operand of `node`."""
    if node[0] == Kind.CALL and node[1] in _COPIES:
        return _COPIES[node[1]]
    exponent = node[3] if node[0] == Kind.BIN and node[1] == "**" else \
        node[2][1] if node[0] == Kind.CALL and node[1] == "power" else None
    return _POWERS.get(exponent[1], 1) if exponent and exponent[0] == Kind.CONST else 1


def measure(expr: Expr, leaves: dict | None = None) -> tuple[int, int]:
    """(nodes, depth) of a tree written out in full, even where sub-trees are shared, in
    time linear in the distinct sub-tree objects; the nodes count an operand the compiler
    writes out several times (tanh, small powers) that many times. `leaves` maps a leaf to
    the (nodes, depth) it stands for (a function parameter, before its argument is put in)."""
    memo: dict[int, tuple[int, int]] = {}
    stack = [expr]
    while stack:
        node = stack[-1]
        if id(node) in memo:
            stack.pop()
            continue
        kids = children(node)
        pending = [k for k in kids if id(k) not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        if kids:
            sizes = [memo[id(k)] for k in kids]
            nodes = 1 + sum(n for n, _ in sizes) + (_copies(node) - 1) * sizes[0][0]
            memo[id(node)] = (nodes, 1 + max(d for _, d in sizes))
        else:
            memo[id(node)] = leaves.get(node, (1, 1)) if leaves else (1, 1)
    return memo[id(expr)]


class _Converter:
    """Python's ast of one expression -> tree, with errors placed in the user's line."""

    def __init__(self, line: str, shift: int, known: set[str] | None, functions: dict,
                 constants: dict[str, float], post_dot: bool = False):
        self.line, self.shift, self.known, self.functions = line, shift, known, functions
        self.post_dot = post_dot
        self.constants = constants
        self.placeholders: dict[str, Expr] = {}
        self.draws = 0  # random draws met so far (each gets its own index)

    def convert(self, source: str, offset: int, mode: str = "value",
                placeholders: dict[str, Expr] | None = None) -> Expr:
        """The tree of `source`, which starts at column `offset` of the line. `mode`:
        "value", "condition" (a comparison, and/or/not, or a number: true when not 0), or
        "truth" (a value, or a condition worth 1 or 0)."""
        try:
            node = ast.parse(source.strip(), mode="eval").body
        except SyntaxError as err:
            column = offset + (err.offset or 1) - 1 + (len(source) - len(source.lstrip()))
            raise EquationError(f"cannot parse the expression ({err.msg}); expected numbers, "
                                "names, + - * / ** and calls such as exp(x)", self.line,
                                column) from None
        except (RecursionError, MemoryError):
            raise EquationError(f"the expression is nested too deeply to parse; {_LIMITS}",
                                _short(self.line)) from None
        except ValueError as err:  # e.g. a null byte, on some Python versions
            raise EquationError(f"cannot parse the expression ({err})",
                                _short(self.line)) from None
        nodes, depth = _ast_shape(node)
        if depth > MAX_DEPTH + 2 or nodes > 4 * MAX_NODES:  # checked before recursing into it
            size = f"more than {4 * MAX_NODES}" if nodes > 4 * MAX_NODES else str(nodes)
            raise EquationError(f"the expression is too large ({size} nodes, nested {depth} "
                                f"deep); {_LIMITS}", _short(self.line))
        self.shift = offset + len(source) - len(source.lstrip())
        self.placeholders = placeholders or {}
        if mode == "condition":
            return self.condition(node)
        if mode == "truth" and _is_condition(node):
            return (Kind.CALL, ITE.name, (self.condition(node), ONE, ZERO))
        return self(node)

    def fail(self, message: str, at: ast.AST) -> EquationError:
        return EquationError(message, self.line, self.shift + getattr(at, "col_offset", 0))

    def text(self, node: ast.AST) -> str:
        """The source of a node, as the user wrote it."""
        start = self.shift + getattr(node, "col_offset", 0)
        end = self.shift + (getattr(node, "end_col_offset", None) or 0)
        return self.line[start:end] if end > start else ast.unparse(node)

    def folded(self, expr: Expr, node: ast.AST) -> Expr:
        """`expr` computed now when all its operands are numbers; an error when that fails."""
        value, why = _compute(expr, self.functions)
        if why is not None:
            raise self.fail(f"the constant expression {show(self.text(node))} has no finite "
                            f"value ({why})", node)
        return expr if value is None else (Kind.CONST, value)

    def __call__(self, node: ast.AST) -> Expr:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) and repr(node.value) in self.constants:
                return (Kind.CONST, float(self.constants[repr(node.value)]))
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise self.fail(f"expected a number, got {show(node.value)}", node)
            try:
                value = float(node.value)
            except OverflowError:
                value = math.inf
            if not math.isfinite(value):
                number = show(node.value) if isinstance(node.value, int) else \
                    f"the number {self.text(node)}"
                raise self.fail(f"{number} is too large for a float (the largest float64 is "
                                f"{LARGEST['float64']:.8g})", node)
            return (Kind.CONST, value)
        if isinstance(node, ast.Name):
            if node.id in self.placeholders:
                return self.placeholders[node.id]
            if node.id in self.constants and (self.known is None or node.id in self.known):
                return (Kind.CONST, float(self.constants[node.id]))
            if self.known is not None and node.id not in self.known:
                known_here = ", ".join(sorted(self.known - _BOOLEAN_NAMES)) or "none"
                raise self.fail(f"unknown name {node.id!r}; known here: {known_here}", node)
            return (Kind.VAR, node.id)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "pre":
                return (Kind.PRE, node.attr)
            if isinstance(node.value, ast.Name) and node.value.id == "post" and \
                    self.post_dot:
                return (Kind.POST, node.attr)
            raise self.fail("only pre.<variable>" + (" and post.<variable>" if self.post_dot
                                                     else "") + " may use a dot", node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self(node.operand)
            if isinstance(node.op, ast.UAdd):
                return inner
            return (Kind.CONST, -inner[1]) if inner[0] == Kind.CONST else (Kind.NEG, inner)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            left, right = self(node.left), self(node.right)
            if isinstance(node.op, ast.Div) and right == (Kind.CONST, 0.0):
                raise self.fail("division by zero", node.right)
            return self.folded((Kind.BIN, _BINOPS[type(node.op)], left, right), node)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.call(node)
        if isinstance(node, ast.IfExp) and ITE.name in self.functions:
            branches = (self.condition(node.test), self(node.body), self(node.orelse))
            return (Kind.CALL, ITE.name, branches)
        if _is_condition(node):
            where = "ite(condition, a, b) (or between if and ':')" \
                if ITE.name in self.functions else "a neuron's ite()"
            raise self.fail(f"a condition is only allowed as the first argument of {where}",
                            node)
        raise self.fail(f"unsupported syntax {type(node).__name__}; expected numbers, names, "
                        "+ - * / **, and function calls", node)

    def call(self, node: ast.Call) -> Expr:
        name = node.func.id
        if name in REDUCTIONS and self.functions.get(name) is REDUCTIONS[name]:
            if node.keywords or len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                raise self.fail(f"{name}() takes one per-neuron variable of this neuron, e.g. "
                                f"{name}(r) (a population-wide {name})", node)
            return (Kind.GLOBAL, global_name(name, node.args[0].id))
        if isinstance(self.functions.get(name), Draw):
            return self.draw(node, self.functions[name])
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments", node)
        if name == "sum":
            if not node.args:
                return (Kind.SUM, "")
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Name):
                raise self.fail("sum() takes one target name, e.g. sum(exc), or none", node)
            return (Kind.SUM, node.args[0].id)
        if name == DERIVATIVE and name in self.functions:
            return (Kind.DERIV, node.args[0].id)
        if name not in self.functions:
            known = ", ".join(sorted(f for f in self.functions if f != DERIVATIVE))
            raise self.fail(f"unknown function {name}(); known: sum, {known}", node)
        spec = self.functions[name]
        count = spec.arity if isinstance(spec, Function) else len(spec[0])
        if len(node.args) != count:
            raise self.fail(f"{name}() takes {count} argument(s), got {len(node.args)}", node)
        if spec is ITE:
            first = self.condition(node.args[0])
            return (Kind.CALL, ITE.name, (first, self(node.args[1]), self(node.args[2])))
        args = []
        for a in node.args:  # a loop, not a generator: one Python frame per level
            args.append(self(a))
        if isinstance(spec, Function):
            return self.folded((Kind.CALL, name, tuple(args)), node)
        params, body = spec  # a user function: its body with the arguments put in
        table = {(Kind.VAR, p): a for p, a in zip(params, args, strict=True)}
        nodes, depth = measure(body, {leaf: measure(a) for leaf, a in table.items()})
        if nodes > MAX_NODES or depth > MAX_DEPTH:  # measured before it is built
            raise self.fail(f"{name}() would expand to {nodes} nodes nested {depth} deep; "
                            f"{_LIMITS}", node)
        return fold(substitute(body, table), self.functions,
                    lambda part, why: self.fail(f"the constant expression {to_source(part)} "
                                                f"has no finite value ({why})", node))

    def draw(self, node: ast.Call, draw: Draw) -> Expr:
        """A random draw: (RAND, name, index, parameters), numbered in source order."""
        name = draw.name
        if node.keywords or len(node.args) != draw.arity:
            raise self.fail(f"{name}() in an equation takes {draw.arity} argument(s), numbers or "
                            "population-wide parameters, given by position (as in ANNarchy; "
                            "clip the result with min/max flags or clip())", node)
        args = []
        for a in node.args:
            tree = self(a)
            if tree[0] not in (Kind.CONST, Kind.VAR):
                raise self.fail(f"an argument of {name}() must be a number or a population-wide "
                                f"parameter, got {to_source(tree)}", a)
            args.append(tree)
        try:
            full = draw.check(tuple(args))
        except (ValueError, TypeError) as err:
            raise self.fail(str(err), node) from None
        index = self.draws
        self.draws += 1
        return (Kind.RAND, name, index, full)

    def condition(self, node: ast.AST) -> Expr:
        if isinstance(node, ast.Compare):
            operands = [self(node.left)]
            for c in node.comparators:
                operands.append(self(c))
            for op in node.ops:
                if type(op) not in _CMPOPS:
                    raise self.fail(f"unsupported comparison {type(op).__name__}; expected "
                                    "< <= > >= == != (or is, is not)", node)
            tests = [(Kind.CMP, _CMPOPS[type(op)], a, b)
                     for op, a, b in zip(node.ops, operands, operands[1:], strict=False)]
            result = tests[0]
            for test in tests[1:]:  # a < b < c means a < b and b < c
                result = (Kind.BOOL, "and", result, test)
            return result
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            parts = []
            for v in node.values:
                parts.append(self.condition(v))
            result = parts[0]
            for part in parts[1:]:
                result = (Kind.BOOL, op, result, part)
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return (Kind.NOT, self.condition(node.operand))
        return (Kind.CMP, "!=", self(node), ZERO)  # a number is true when not 0, as in C


def _is_condition(node: ast.AST) -> bool:
    return isinstance(node, ast.Compare | ast.BoolOp) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))


def walk(expr: Expr):
    """Every distinct node of a tree once (shared sub-trees are not revisited), iteratively,
    so a deep tree cannot exhaust Python's stack."""
    stack, seen = [expr], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            yield node
            stack.extend(children(node))


def names(expr: Expr, kind: Kind) -> set[str]:
    """Every name of one leaf kind (VAR, PRE, SUM, LET or DERIV) used in the tree."""
    return {node[1] for node in walk(expr) if node[0] == kind}


def draws(expr: Expr) -> list[Expr]:
    """The random draws of a tree, by index."""
    found = {node for node in walk(expr) if node[0] == Kind.RAND}
    return sorted(found, key=lambda node: node[2])


def children(expr: Expr) -> tuple[Expr, ...]:
    """The sub-trees of a node; the only place besides `rebuild` that knows node shapes."""
    kind = expr[0]
    if kind == Kind.CALL:
        return expr[2]
    if kind == Kind.RAND:
        return tuple(p for p in expr[3] if p is not None)
    if kind in _BINARY:
        return (expr[2], expr[3])
    if kind in _UNARY_KINDS:
        return (expr[1],)
    return ()


def rebuild(expr: Expr, kids: tuple[Expr, ...]) -> Expr:
    """A node like `expr` with other sub-trees (in the order `children` gives them)."""
    kind = expr[0]
    if kind == Kind.CALL:
        return (kind, expr[1], tuple(kids))
    if kind == Kind.RAND:
        rest = iter(kids)
        return (kind, expr[1], expr[2], tuple(None if p is None else next(rest)
                                              for p in expr[3]))
    if kind in _BINARY:
        return (kind, expr[1], *kids)
    if kind in _UNARY_KINDS:
        return (kind, kids[0])
    return expr


def substitute(expr: Expr, table: dict[Expr, Expr]) -> Expr:
    """Replace every sub-tree found in `table` (e.g. a variable by its new value)."""
    if expr in table:
        return table[expr]
    kids = children(expr)
    if not kids:
        return expr
    new = []
    for c in kids:  # a loop, not a generator: one Python frame per level
        new.append(substitute(c, table))
    return rebuild(expr, tuple(new))


def split_psp(psp: Expr) -> tuple[Expr, dict[str, Expr]]:
    """Hoist the largest pre-only sub-expressions (no `w`) out of the psp.

    Returns the per-tap term, where each hoisted part is a new pre leaf `("pre", "g0")`, and
    the hoisted parts by name. Plain `pre.x` leaves stay as they are.
    """
    hoisted: dict[Expr, str] = {}

    def visit(e: Expr) -> None:
        if e[0] in (Kind.CALL, Kind.BIN, Kind.NEG) and names(e, Kind.PRE) and \
                not names(e, Kind.VAR) and not names(e, Kind.POST):
            hoisted.setdefault(e, f"g{len(hoisted)}")
        else:
            for c in children(e):
                visit(c)

    visit(psp)
    term = substitute(psp, {e: (Kind.PRE, name) for e, name in hoisted.items()})
    return term, {name: e for e, name in hoisted.items()}


def to_source(expr: Expr) -> str:
    """Readable form of a tree (used in messages and reprs)."""
    kind = expr[0]
    if kind == Kind.CONST:
        return repr(expr[1])
    if kind in (Kind.VAR, Kind.LET):
        return expr[1]
    if kind in (Kind.PRE, Kind.POST):
        return f"{kind}.{expr[1]}"
    if kind == Kind.SUM:
        return f"sum({expr[1]})"
    if kind == Kind.DERIV:
        return f"d{expr[1]}/dt"
    if kind == Kind.GLOBAL:
        return expr[1]
    if kind == Kind.RAND:
        return f"{expr[1]}({', '.join(to_source(p) for p in expr[3] if p is not None)})"
    if kind == Kind.CALL:
        return f"{expr[1]}({', '.join(map(to_source, expr[2]))})"
    if kind == Kind.NEG:
        return f"-({to_source(expr[1])})"
    if kind == Kind.NOT:
        return f"not ({to_source(expr[1])})"
    return f"({to_source(expr[2])} {expr[1]} {to_source(expr[3])})"


# -- algebra: constructors that fold constants, and linear decomposition -----------------------

ZERO, ONE = (Kind.CONST, 0.0), (Kind.CONST, 1.0)


def add(a: Expr, b: Expr) -> Expr:
    if a == ZERO:
        return b
    if b == ZERO:
        return a
    if a[0] == b[0] == Kind.CONST:
        return (Kind.CONST, a[1] + b[1])
    if b[0] == Kind.NEG:
        return sub(a, b[1])
    return (Kind.BIN, "+", a, b)


def sub(a: Expr, b: Expr) -> Expr:
    if b == ZERO:
        return a
    if a == ZERO:
        return neg(b)
    if a[0] == b[0] == Kind.CONST:
        return (Kind.CONST, a[1] - b[1])
    return (Kind.BIN, "-", a, b)


def mul(a: Expr, b: Expr) -> Expr:
    if ZERO in (a, b):  # only ever our own zeros: a coefficient of a term that is absent
        return ZERO
    if a == ONE:
        return b
    if b == ONE:
        return a
    if a[0] == b[0] == Kind.CONST:
        return (Kind.CONST, a[1] * b[1])
    return (Kind.BIN, "*", a, b)


def div(a: Expr, b: Expr) -> Expr:
    if b == ONE or a == ZERO:
        return a
    if a[0] == b[0] == Kind.CONST and b[1] != 0.0:
        return (Kind.CONST, a[1] / b[1])
    return (Kind.BIN, "/", a, b)


def neg(a: Expr) -> Expr:
    if a[0] == Kind.CONST:
        return (Kind.CONST, -a[1])
    if a[0] == Kind.NEG:
        return a[1]
    if a[0] == Kind.BIN and a[1] == "-":  # -(x - y) = y - x
        return sub(a[3], a[2])
    return (Kind.NEG, a)


def linear(expr: Expr, x: Expr) -> tuple[Expr, Expr] | None:
    """(a, b) with expr == a * x + b and neither a nor b containing `x`; None when expr is
    not linear in x (x inside a function, a power, a denominator, or times itself)."""
    if expr == x:
        return ONE, ZERO
    if not contains(expr, x):
        return ZERO, expr
    kind = expr[0]
    parts = []
    for c in children(expr):
        parts.append(linear(c, x))
    if None in parts:
        return None
    if kind == Kind.NEG:
        return neg(parts[0][0]), neg(parts[0][1])
    if kind != Kind.BIN or expr[1] == "**":
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
    stack = [expr]
    while stack:
        node = stack.pop()
        if node == part:
            return True
        stack.extend(children(node))
    return False


def fold(expr: Expr, functions: dict | None = None, fail: Callable | None = None) -> Expr:
    """The tree with every constant sub-expression computed (e.g. `2 * pi`, `-1 / 3`).

    A constant sub-expression that has no finite value (`1 / 0`, `exp(1000)`, `log(-1)`) is
    left as it is, or, with `fail`, raises `fail(sub-tree, reason)`."""
    kids = children(expr)
    if not kids:
        return expr
    new = []
    for c in kids:  # a loop, not a generator: one Python frame per level
        new.append(fold(c, functions, fail))
    expr = rebuild(expr, tuple(new))
    value, why = _compute(expr, functions or FUNCTIONS)
    if why is not None and fail is not None:
        raise fail(expr, why)
    return expr if value is None else (Kind.CONST, value)


def _compute(expr: Expr, functions: dict) -> tuple[float | None, str | None]:
    """(value, None) for a node whose operands are all numbers; (None, reason) when it has
    no finite value; (None, None) when it is not constant (or a condition, never folded)."""
    kids = children(expr)
    if not kids or expr[0] not in (Kind.BIN, Kind.NEG, Kind.CALL) or \
            any(k[0] != Kind.CONST for k in kids):
        return None, None
    values = [k[1] for k in kids]
    if expr[1] in ("**", "power") and values[0] == 0.0 and values[1] < 0:
        return None, "division by zero: 0 to a negative power"
    try:
        value = float(_evaluate(expr, values, functions))
    except ZeroDivisionError:
        return None, "division by zero"
    except OverflowError:
        return None, "it overflows float64"
    except (ValueError, TypeError) as err:
        return None, f"{err}, e.g. log or sqrt of a negative number"
    if math.isnan(value):
        return None, "not a number"
    if math.isinf(value):
        return None, "it overflows float64"
    return value, None


def constant_problem(expr: Expr, dtype: str = "float64") -> str:
    """'' when every constant of a (folded) tree can be computed and fits `dtype`; else what
    is wrong with the first one that cannot (the kernel could not be built with it)."""
    largest = LARGEST[dtype]
    stack, seen = [expr], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node[0] == Kind.CONST:
            if not math.isfinite(node[1]) or abs(node[1]) > largest:
                return (f"the constant {node[1]!r} does not fit {dtype} (largest "
                        f"{largest:.8g})")
            continue
        value, why = _compute(node, FUNCTIONS)
        if why is not None:
            return f"the constant expression {to_source(node)} has no finite value ({why})"
        if value is not None and abs(value) > largest:
            return (f"the constant expression {to_source(node)} = {value!r} does not fit "
                    f"{dtype} (largest {largest:.8g})")
        stack.extend(children(node))
    return ""


def _evaluate(expr: Expr, values: list[float], functions: dict) -> float:
    if expr[0] == Kind.NEG:
        return -values[0]
    if expr[0] == Kind.CALL:
        return (functions.get(expr[1]) or CASTS[expr[1]]).evaluate(*values)
    a, b = values
    op = expr[1]
    if op in ARITHMETIC:
        return ARITHMETIC[op](a, b)
    return a / b if op == "/" else math.pow(a, b)
