"""Counter-based random numbers for compiled kernels: Philox4x32-10 and its transforms.

An in-equation draw such as ``r = sum(exc) + Normal(0, 0.1)`` must be fresh per neuron and
per step, reproducible from a seed, and computed *inside* the kernel (no state to carry).
Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011; the
Random123 constants) gives that: four 32-bit words that are a keyed bijection of a 128-bit
counter. tecomp uses

- counter = (neuron index, step & 0xffffffff, step >> 32, draw_index | call << 16),
- key = the 64-bit seed split in two 32-bit words (low, high),

where ``draw_index`` numbers the draws of one update (0..65535, one per distribution call in
the equations) and ``call`` numbers the extra Philox blocks a draw needs (only Gamma uses
more than one). Streams with different ``(seed, draw_index)`` are independent; whoever
assigns them keeps them distinct across populations (e.g. a seed per population from
`derive_seed`).

Everything below is written once, against a small set of operations, and evaluated twice:
on NumPy arrays (`_NumpyOps`: `random_words`, `draw_numpy`) and as TVM IR (`_TEOps`:
`words_stage`, `draw_stage`, `draw_te`). The TVM half imports TVM lazily.

Transforms (``u`` uniform in [0, 1), ``u'`` uniform in (0, 1]):

- uniform: float32 from one word, ``(w >> 8) * 2**-24``; float64 from two,
  ``((w0 >> 5) * 2**26 + (w1 >> 6)) * 2**-53``; ``u'`` adds one unit before scaling;
- Uniform(a, b) = ``a + (b - a) * u`` (rounding may reach ``b``, as with NumPy's uniform);
- Normal(mu, sigma) = ``mu + sigma * sqrt(-2 log u'1) * cos(2 pi u2)`` (Box-Muller on one
  Philox block: float32 uses words 0-1, float64 words 0-3). ``u'1 >= 2**-24`` (float32) and
  ``2**-53`` (float64) bound ``|z|`` by 5.77 and 8.57: the tails cut off have probability
  8e-9 and 1e-17;
- LogNormal = ``exp(Normal)``; Exponential(lambda) = ``-log(u') / lambda`` (``u'`` has the
  law of ``1 - u``);
- DiscreteUniform(a, b) = ``a + floor(w * (b - a + 1) / 2**32)`` in 64-bit integer arithmetic
  (the floor of a 32-bit uniform times the span: exact, never ``b + 1``; each value's
  probability is off by at most ``span / 2**32``, relative);
- Gamma(alpha, beta): Marsaglia and Tsang (2000) with `GAMMA_ATTEMPTS` attempts per draw,
  each on its own Philox block(s) (float32: call k, words 0-1 for the normal, word 2 for the
  acceptance uniform; float64: calls 2k and 2k+1). The first accepted attempt wins (nested
  Selects, no branches). alpha < 1 uses ``Gamma(alpha + 1) * u'**(1/alpha)``, ``u'`` from
  the block after the attempts. One attempt is rejected with probability at most 0.049
  (shape 1 after the boost; less for larger shapes), so all 8 fail with probability below
  ``0.049**8 = 3.3e-11`` per draw; the draw is then ``d = shape - 1/3`` (near the median of
  Gamma(shape)), times the boost and ``beta``: finite and deterministic, never NaN;
- ``min``/``max`` clip last, like ANNarchy: below min -> min, above max -> max.

log, exp and cos(2 pi u) are branch-free polynomial descriptions too (`_log`, `_exp`,
`_cos_2pi`, within 2 ulp): libm calls would be scalar in a vector loop (TVM emits one
``logf`` call per element, ~6 ns) and differ between NumPy and the kernel.

In a kernel a draw is a stage of its own (`draw_stage`, a `te.extern` looping over the
neurons) that the update reads as ``R[i]``, rather than an expression inside the update:
TVM's arithmetic analyzer substitutes each `Let` value into the next, so a float `Let`
chain as deep as a LogNormal or Gamma draw costs exponential compile time (minutes; the
LLVM code generator does it too). The stage keeps each intermediate value in a local scalar
(a leaf for the analyzer, a register for LLVM, which vectorises the loop).

The uint32 words are bit-identical between NumPy and a compiled kernel, and so are the
uniforms, DiscreteUniform, and Uniform(a, b) when ``b - a`` is a power of two. Other values
may differ in the last bits: LLVM fuses ``a * b + c`` into one FMA where NumPy rounds twice
(the tests allow 16 eps times the value plus the distribution's scale); Gamma's acceptance
test can then flip at a rounding boundary (never seen in 10**5 draws; the tests allow 0.1 %).

>>> [hex(int(w)) for w in philox4x32((0, 0, 0, 0), (0, 0))]
['0x6627e8d5', '0xe169c58d', '0xbc57ac4c', '0x9b00dbd8']
>>> draw_numpy("Uniform", (0.0, 1.0), seed=42, neuron_indices=[0, 1, 2], step=7,
...            draw_index=0, dtype="float32").dtype
dtype('float32')
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import distributions
from .errors import InvalidTypeError, InvalidValueError

if TYPE_CHECKING:  # annotations only: the NumPy half must not need TVM
    from tvm.te import Tensor
    from tvm.tirx import PrimExpr

MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
WEYL = (0x9E3779B9, 0xBB67AE85)
ROUNDS = 10
GAMMA_ATTEMPTS = 8
MAX_DRAW_INDEX = 0xFFFF
MAX_CALL = 0xFFFF
DTYPES = ("float32", "float64")

_MASK32 = 0xFFFFFFFF
_MASK64 = 2**64 - 1
_SQUEEZE = 0.0331  # Marsaglia-Tsang squeeze constant


# ---------------------------------------------------------------------------------------------
# The two evaluators. A description only calls these methods and + - * / < > == on values.


class _Formulas:
    """What both evaluators compute from their primitives, by the same formulas (libm's or
    TVM's own log/exp/cos would round differently on each side)."""

    def log(self, x):
        return _log(self, x)

    def exp(self, x):
        return _exp(self, x)

    def cos_2pi(self, u):
        return _cos_2pi(self, u)


class _NumpyOps(_Formulas):
    """NumPy arrays: the kernel's twin (uint32 words, floats of `dtype`)."""

    def __init__(self, dtype: str = "float64"):
        self.dtype = np.dtype(dtype)
        self.name = self.dtype.name
        self.type = self.dtype.type
        self.int_type = np.int32 if self.dtype == np.float32 else np.int64
        self.words_per_uniform = 1 if self.dtype == np.float32 else 2

    # integers
    def word(self, value) -> np.ndarray:
        return np.asarray(value).astype(np.uint32)

    def round_key(self, key: int, r: int, weyl: int) -> np.ndarray:
        return np.asarray((key + r * weyl) & _MASK32, dtype=np.uint32)

    def bind(self, value, name: str):
        return value

    def mulhilo(self, a, multiplier: int):
        product = np.asarray(a).astype(np.uint64) * np.uint64(multiplier)
        return ((product >> np.uint64(32)).astype(np.uint32),
                (product & np.uint64(_MASK32)).astype(np.uint32))

    def xor(self, a, b, c):
        return np.bitwise_xor(np.bitwise_xor(a, b), c)

    def philox(self, counter: Sequence, key: Sequence, rounds: int) -> tuple:
        return _philox(self, counter, key, rounds)

    def cell(self, value, name: str) -> _Cell:
        return _Cell(value)

    def repeat(self, count: int, body: Callable) -> None:
        for k in range(count):
            body(k)

    def uniform(self, words: Sequence, open_: bool):
        one = 1 if open_ else 0
        if self.dtype == np.float32:
            k = (np.asarray(words[0]) >> np.uint32(8)).astype(np.int32) + np.int32(one)
            return k.astype(np.float32) * np.float32(2.0**-24)
        # 27 + 26 bits through int32 (AVX2 converts int32, not int64, to double); exact
        high = (np.asarray(words[0]) >> np.uint32(5)).astype(np.int32).astype(np.float64)
        low = ((np.asarray(words[1]) >> np.uint32(6)).astype(np.int32) + np.int32(one)) \
            .astype(np.float64)
        return high * np.float64(2.0**-27) + low * np.float64(2.0**-53)

    def scaled_index(self, word, span: int):
        return ((np.asarray(word).astype(np.uint64) * np.uint64(span)) >> np.uint64(32)) \
            .astype(np.int64)

    def int_to_float(self, index, low: int):
        return (index + np.int64(low)).astype(self.dtype)

    # floats
    def f(self, value):
        return self.type(value)

    def i(self, value: int):
        return self.int_type(value)

    def bits(self, x):
        return np.asarray(x, dtype=self.dtype).view(self.int_type)

    def from_bits(self, i):
        return np.asarray(i, dtype=self.int_type).view(self.dtype)

    def shift_right(self, i, n: int):
        return i >> self.int_type(n)

    def shift_left(self, i, n: int):
        return i << self.int_type(n)

    def to_int(self, x):
        return np.asarray(x).astype(np.int32).astype(self.int_type)

    def to_float(self, i):
        return np.asarray(i).astype(np.int32).astype(self.dtype)

    def floor(self, x):
        return np.floor(x)

    def isnan(self, x):
        return np.isnan(x)

    def sqrt(self, x):
        return np.sqrt(x)

    def select(self, condition, yes, no):
        return np.where(condition, yes, no).astype(self.dtype, copy=False)

    def all_(self, *conditions):
        return functools.reduce(np.logical_and, conditions)

    def any_(self, *conditions):
        return functools.reduce(np.logical_or, conditions)


class _Cell:
    """A value the description updates (NumPy: the array itself)."""

    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value

    def set(self, value) -> None:
        self.value = value


class _BufferCell:
    """A value the description updates, in a stage: a local buffer (one slot per lane)."""

    def __init__(self, ops: _TEOps, value, name: str):
        value = ops.f(value)
        tirx = ops.tirx
        self.ops = ops
        self.buffer = tirx.decl_buffer((ops.lanes,), str(value.ty), name=name, scope="global")
        ops.allocations.append(tirx.AllocBuffer(self.buffer))
        self.set(value)

    def get(self):
        return self.ops.tirx.BufferLoad(self.buffer, [self.ops.lane])

    def set(self, value) -> None:
        self.ops.statements.append(self.ops.tirx.BufferStore(self.buffer, value,
                                                             [self.ops.lane]))


class _TEOps(_Formulas):
    """TVM statements for the body of a `te.extern` stage, one neuron per loop iteration.

    `bind` stores a value in a local scalar buffer and returns its load, so each value is
    computed once and TVM's arithmetic analyzer sees a leaf: it substitutes every `Let`
    value into the next, and a float `Let` chain as deep as a Gamma draw costs exponential
    compile time (minutes). LLVM promotes the local scalars to registers and vectorises the
    loop."""

    def __init__(self, dtype: str = "float64", lane=None, lanes: int = 1):
        from tvm import tirx

        self.tirx = tirx
        self.dtype = self.name = dtype
        self.type = np.dtype(dtype).type
        self.int_type = "int32" if dtype == "float32" else "int64"
        self.words_per_uniform = 1 if dtype == "float32" else 2
        self.lane, self.lanes = (lane, lanes) if lane is not None else (0, 1)
        self.allocations: list[Any] = []  # before the (vectorised) loop over lanes
        self.statements: list[Any] = []  # its body

    def _cast(self, base: str, x):
        return self.tirx.Cast(base, _expr(x))

    def _u32(self, value: int):
        return self.tirx.const(value & _MASK32, "uint32")

    def _u64(self, value: int):
        return self.tirx.const(value, "uint64")

    # integers
    def word(self, value):
        if isinstance(value, numbers.Integral):
            return self._u32(int(value))
        value = _expr(value)
        base = _base(value)
        if base == "uint32":
            return value
        if base in ("int64", "uint64"):
            # Mask before narrowing: TVM's bound analysis refuses a known range that
            # overflows the narrower type ("Literal value ... exceeds maximum of uint32").
            return self._cast("uint32", value & self.tirx.const(_MASK32, base))
        return self._cast("uint32", value)

    def round_key(self, key, r: int, weyl: int):
        if isinstance(key, numbers.Integral):
            return self._u32(int(key) + r * weyl)
        return key if r == 0 else key + self._u32(r * weyl)

    def bind(self, value, name: str):
        tirx = self.tirx
        value = _expr(value)
        if isinstance(value, tirx.Var | tirx.IntImm | tirx.FloatImm) or \
                type(value).__name__ == "TensorLoad":  # a load is already a leaf
            return value
        # scope "global": TVM 0.27 puts small constant-size "global" allocations on the stack
        # (LLVM then keeps them in registers) but "local" ones on its heap workspace
        buffer = tirx.decl_buffer((self.lanes,), str(value.ty), name=name, scope="global")
        self.allocations.append(tirx.AllocBuffer(buffer))
        self.statements.append(tirx.BufferStore(buffer, value, [self.lane]))
        return tirx.BufferLoad(buffer, [self.lane])

    def mulhilo(self, a, multiplier: int):
        product = self.bind(self._cast("uint64", a) * self._u64(multiplier), "rng_p")
        high = self._cast("uint32", self.tirx.shift_right(product, self._u64(32)))
        low = self._cast("uint32", product & self._u64(_MASK32))  # masked: see `word`
        return high, low

    def xor(self, a, b, c):
        return self.tirx.bitwise_xor(self.tirx.bitwise_xor(a, b), c)

    def philox(self, counter: Sequence, key: Sequence, rounds: int) -> tuple:
        return _philox(self, counter, key, rounds)

    def cell(self, value, name: str) -> _BufferCell:
        return _BufferCell(self, value, name)

    def repeat(self, count: int, body: Callable) -> None:
        """`body(k)` for k = 0..count-1, as a TIR loop (its statements emitted once)."""
        tirx = self.tirx
        outer, self.statements = self.statements, []
        k = tirx.Var("rng_attempt", "int32")
        body(k)
        outer.append(tirx.For(k, 0, count, tirx.ForKind.SERIAL, tirx.SeqStmt(self.statements)))
        self.statements = outer

    def uniform(self, words: Sequence, open_: bool):
        tirx = self.tirx
        one = tirx.const(1 if open_ else 0, "int32")
        if self.dtype == "float32":
            k = self._cast("int32", tirx.shift_right(words[0], self._u32(8))) + one
            return self._cast("float32", k) * tirx.const(2.0**-24, "float32")
        high = self._cast("float64", self._cast("int32", tirx.shift_right(words[0],
                                                                         self._u32(5))))
        low = self._cast("float64", self._cast("int32", tirx.shift_right(words[1],
                                                                        self._u32(6))) + one)
        return high * tirx.const(2.0**-27, "float64") + low * tirx.const(2.0**-53, "float64")

    def scaled_index(self, word, span):
        span = self._u64(span) if isinstance(span, numbers.Integral) else span
        return self._cast("int64", self.tirx.shift_right(self._cast("uint64", word) * span,
                                                         self._u64(32)))

    def int_to_float(self, index, low):
        low = self.tirx.const(low, "int64") if isinstance(low, numbers.Integral) else low
        return self._cast(self.dtype, index + low)

    # floats
    def f(self, value):
        if isinstance(value, numbers.Real):  # rounded to dtype here, never folded in double
            return self.tirx.const(float(self.type(value)), self.dtype)
        value = _expr(value)
        return value if _base(value) == self.dtype else self._cast(self.dtype, value)

    def i(self, value: int):
        return self.tirx.const(value, self.int_type)

    def bits(self, x):
        return self.tirx.reinterpret(self.int_type, x)

    def from_bits(self, i):
        return self.tirx.reinterpret(self.dtype, i)

    def shift_right(self, i, n: int):
        return self.tirx.shift_right(i, self.i(n))

    def shift_left(self, i, n: int):
        return self.tirx.shift_left(i, self.i(n))

    def to_int(self, x):  # through int32: AVX2 has no vector double -> int64
        value = self._cast("int32", x)
        return value if self.int_type == "int32" else self._cast(self.int_type, value)

    def to_float(self, i):
        value = i if self.int_type == "int32" else self._cast("int32", i)
        return self._cast(self.dtype, value)

    def floor(self, x):
        return self.tirx.floor(x)

    def isnan(self, x):
        return self.tirx.isnan(x)

    def sqrt(self, x):
        return self.tirx.sqrt(x)

    def select(self, condition, yes, no):
        return self.tirx.Select(condition, yes, no)

    def all_(self, *conditions):
        return self.tirx.all(*conditions)

    def any_(self, *conditions):
        return self.tirx.any(*conditions)


def _expr(value):
    """A TE tensor element (`X[i]`) as a PrimExpr."""
    return value.asobject() if hasattr(value, "asobject") else value


def _base(value) -> str:
    return str(_expr(value).ty)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------------------
# The description, once.


def _philox(ops, counter: Sequence, key: Sequence, rounds: int) -> tuple:
    c0, c1, c2, c3 = (ops.word(c) for c in counter)
    k0, k1 = key
    if not isinstance(k0, numbers.Integral):  # an expression: one binding for all rounds
        k0 = ops.bind(ops.word(k0), "rng_k0")
    if not isinstance(k1, numbers.Integral):
        k1 = ops.bind(ops.word(k1), "rng_k1")
    for r in range(rounds):
        high0, low0 = ops.mulhilo(c0, MULTIPLIERS[0])
        high1, low1 = ops.mulhilo(c2, MULTIPLIERS[1])
        c0, c1, c2, c3 = (ops.bind(w, f"rng_c{j}") for j, w in enumerate((
            ops.xor(high1, c1, ops.round_key(k0, r, WEYL[0])), low1,
            ops.xor(high0, c3, ops.round_key(k1, r, WEYL[1])), low0)))
    return c0, c1, c2, c3


def _counter(ops, neuron, step, draw_index: int, call: int) -> tuple:
    if isinstance(step, numbers.Integral):
        step_low, step_high = int(step) & _MASK32, int(step) >> 32
    else:
        step = _expr(step)
        step_low = ops.word(step)
        if _base(step) in ("int64", "uint64"):
            step_high = ops.word(ops.tirx.shift_right(step, ops.tirx.const(32, _base(step))))
        else:  # a 32-bit step expression has no high word
            step_high = 0
    if isinstance(call, numbers.Integral):
        return neuron, step_low, step_high, draw_index | call << 16
    tirx = ops.tirx  # a loop variable (Gamma's attempts)
    return neuron, step_low, step_high, tirx.bitwise_or(
        ops.word(draw_index), tirx.shift_left(ops.word(call), ops.word(16)))


def _blocks(ops, key, neuron, step, draw_index: int) -> Callable:
    """`block(call)`: the four words of Philox block `call` (an int, or a loop variable)."""

    @functools.cache
    def constant(call: int) -> tuple:
        return ops.philox(_counter(ops, neuron, step, draw_index, call), key, ROUNDS)

    def block(call) -> tuple:
        if isinstance(call, numbers.Integral):
            return constant(call)
        return ops.philox(_counter(ops, neuron, step, draw_index, call), key, ROUNDS)

    return block


def _arith(ops, fn: Callable, *args):
    """`fn` of parameters: on dtype scalars when all are numbers (so a kernel constant is
    the value NumPy computes, never a double-precision fold), else on expressions."""
    if all(_is_number(a) for a in args):
        scalar = _NumpyOps(ops.name)
        with np.errstate(all="ignore"):
            return fn(scalar, *(scalar.f(a) for a in args))
    return fn(ops, *(ops.f(a) for a in args))


# log, exp and cos(2 pi u): Taylor coefficients, enough terms for < 2 ulp (tested).
_FORMAT = {"float32": (23, 127), "float64": (52, 1023)}  # mantissa bits, exponent bias
_LN2 = {"float32": (0.693359375, -2.12194440e-4),  # ln 2 = high + low; k * high is exact
        "float64": (6.93147180369123816490e-01, 1.90821492927058770002e-10)}
_LOG_TERMS = {"float32": 5, "float64": 10}
_EXP_DEGREE = {"float32": 8, "float64": 13}
_SIN_TERMS = {"float32": 6, "float64": 11}
_EXP_RANGE = {"float32": (-104.0, 89.0), "float64": (-746.0, 710.0)}  # beyond: 0 and inf


def _horner(ops, x, coefficients: Sequence[float]):
    """The polynomial with `coefficients` from the highest degree down."""
    result = ops.f(coefficients[0])
    for c in coefficients[1:]:
        result = result * x + ops.f(c)
    return result


def _log(ops, x):
    """Natural log of positive normal floats (all this module needs: uniforms in (0, 1] and
    Gamma's v); 0 -> -inf, negative or NaN -> NaN. With x = 2**e * m, m in [sqrt(1/2),
    sqrt(2)): log x = e log 2 + 2 atanh(s), s = (m - 1) / (m + 1)."""
    bits_mantissa, bias = _FORMAT[ops.name]
    x = ops.bind(x, "rng_lx")
    bits = ops.bind(ops.bits(x), "rng_lb")
    exponent = ops.to_float(ops.shift_right(bits, bits_mantissa) - ops.i(bias))
    m = ops.bind(ops.from_bits((bits & ops.i((1 << bits_mantissa) - 1))
                               | ops.i(bias << bits_mantissa)), "rng_lm")  # [1, 2)
    big = m > ops.f(math.sqrt(2.0))  # not bound: TVM cannot bind a vector of bools
    m = ops.select(big, m * ops.f(0.5), m)  # exact
    exponent = ops.bind(exponent + ops.select(big, ops.f(1.0), ops.f(0.0)), "rng_le")
    f = ops.bind(m - ops.f(1.0), "rng_lf")  # exact (Sterbenz)
    s = ops.bind(f / (f + ops.f(2.0)), "rng_ls")
    z = ops.bind(s * s, "rng_lz")
    series = z * _horner(ops, z, [2.0 / (2 * k + 1) for k in range(_LOG_TERMS[ops.name], 0, -1)])
    high, low = _LN2[ops.name]
    result = exponent * ops.f(high) + ((s * series + exponent * ops.f(low)) + ops.f(2.0) * s)
    return ops.select(x > ops.f(0.0), result,
                      ops.select(x == ops.f(0.0), ops.f(-math.inf), ops.f(math.nan)))


def _exp(ops, x):
    """exp: x = k log 2 + r, |r| <= log(2) / 2, times 2**k as two powers of two (so results
    near overflow and in the subnormal range come out right); NaN stays NaN."""
    bits_mantissa, bias = _FORMAT[ops.name]
    lowest, highest = _EXP_RANGE[ops.name]
    x = ops.bind(x, "rng_ex")
    clamped = ops.select(x > ops.f(lowest), x, ops.f(lowest))  # NaN -> lowest: fixed below
    clamped = ops.bind(ops.select(clamped < ops.f(highest), clamped, ops.f(highest)), "rng_ec")
    k = ops.bind(ops.floor(clamped * ops.f(1.0 / math.log(2.0)) + ops.f(0.5)), "rng_ek")
    high, low = _LN2[ops.name]
    r = ops.bind((clamped - k * ops.f(high)) - k * ops.f(low), "rng_er")
    poly = _horner(ops, r, [1.0 / math.factorial(n)
                            for n in range(_EXP_DEGREE[ops.name], -1, -1)])
    k = ops.bind(ops.to_int(k), "rng_ei")
    half = ops.bind(ops.shift_right(k, 1), "rng_eh")
    scale1 = ops.from_bits(ops.shift_left(half + ops.i(bias), bits_mantissa))
    scale2 = ops.from_bits(ops.shift_left(k - half + ops.i(bias), bits_mantissa))
    return ops.select(ops.isnan(x), x, poly * scale1 * scale2)


def _cos_2pi(ops, u):
    """cos(2 pi u) for u in [0, 1): t = u or u - 1 in [-1/2, 1/2), q = |t| - 1/4 in
    [-1/4, 1/4] (all exact), cos(2 pi u) = -sin(2 pi q), a Taylor polynomial in q."""
    u = ops.bind(u, "rng_cu")
    t = ops.bind(ops.select(u < ops.f(0.5), u, u - ops.f(1.0)), "rng_ct")
    q = ops.bind(ops.select(t < ops.f(0.0), -t, t) - ops.f(0.25), "rng_cq")
    coefficients = [-((-1) ** k) * (2.0 * math.pi) ** (2 * k + 1) / math.factorial(2 * k + 1)
                    for k in range(_SIN_TERMS[ops.name], -1, -1)]
    return q * _horner(ops, q * q, coefficients)


def _standard_normal(ops, words: Sequence):
    n = ops.words_per_uniform
    u1 = ops.uniform(words[:n], open_=True)  # (0, 1]: log never sees 0
    u2 = ops.uniform(words[n:2 * n], open_=False)
    return ops.sqrt(ops.f(-2.0) * ops.log(u1)) * ops.cos_2pi(u2)


def _clip(ops, value, low, high):
    if low is not None or high is not None:
        value = ops.bind(value, "rng_value")  # read twice per bound
    if low is not None:
        low = ops.f(low)
        value = ops.select(value < low, low, value)
    if high is not None:
        high = ops.f(high)
        value = ops.select(value > high, high, value)
    return value


def _gamma(ops, alpha, beta, block: Callable[[int], tuple]):
    n = ops.words_per_uniform
    calls_per_attempt = 1 if n == 1 else 2
    if _is_number(alpha):
        boost = alpha < 1.0
        shape = _arith(ops, lambda o, a: a + o.f(1.0), alpha) if boost else alpha
    else:  # a runtime parameter: both ways, chosen by Select
        boost = ops.f(alpha) < ops.f(1.0)
        shape = ops.bind(ops.select(boost, ops.f(alpha) + ops.f(1.0), ops.f(alpha)), "rng_a")
    d = _arith(ops, lambda o, a: a - o.f(1.0 / 3.0), shape)
    c = _arith(ops, lambda o, d: o.f(1.0) / o.sqrt(o.f(9.0) * d), d)
    d, c = ops.bind(ops.f(d), "rng_d"), ops.bind(ops.f(c), "rng_cc")
    # The attempts run in order and the first accepted one is kept: `kept` starts negative
    # (Gamma draws are >= 0), an accepted attempt fills it once. A loop, not 8 copies: the
    # kernel compiles 4x faster.
    kept = ops.cell(ops.f(-1.0), "rng_kept")

    def attempt(k) -> None:
        words = block(k * calls_per_attempt)
        x = ops.bind(_standard_normal(ops, words), "rng_x")
        t = ops.f(1.0) + c * x
        v = ops.bind(t * t * t, "rng_v")
        u = ops.uniform(words[2:3] if n == 1 else block(k * 2 + 1)[:2], open_=True)
        u = ops.bind(u, "rng_u")
        x2 = ops.bind(x * x, "rng_x2")
        accept = ops.all_(kept.get() < ops.f(0.0), v > ops.f(0.0), ops.any_(
            u < ops.f(1.0) - ops.f(_SQUEEZE) * x2 * x2,
            ops.log(u) < ops.f(0.5) * x2 + d * (ops.f(1.0) - v + ops.log(v))))
        kept.set(ops.select(accept, d * v, kept.get()))

    ops.repeat(GAMMA_ATTEMPTS, attempt)
    kept = ops.bind(kept.get(), "rng_kept_value")
    result = ops.select(kept < ops.f(0.0), d, kept)  # all rejected (probability < 3.3e-11)
    if boost is not False:
        u = ops.uniform(block(GAMMA_ATTEMPTS * calls_per_attempt)[:n], open_=True)
        factor = ops.exp(ops.log(u) / ops.f(alpha))
        result = result * (factor if boost is True else ops.select(boost, factor, ops.f(1.0)))
    return result * ops.f(beta)


def _draw(ops, kind: str, parameters: tuple, block: Callable[[int], tuple]):
    n = ops.words_per_uniform
    if kind == "Uniform":
        low, high = parameters
        scale = _arith(ops, lambda o, a, b: b - a, low, high)
        return ops.f(low) + ops.f(scale) * ops.uniform(block(0)[:n], open_=False)
    if kind == "DiscreteUniform":
        low, high = parameters
        if _is_number(low) and _is_number(high):
            low, span = int(low), int(high) - int(low) + 1
        else:
            tirx = ops.tirx
            low = tirx.Cast("int64", tirx.floor(ops.f(low)))
            span = tirx.Cast("uint64", tirx.Cast("int64", tirx.floor(ops.f(high))) - low + 1)
        return ops.int_to_float(ops.scaled_index(block(0)[0], span), low)
    if kind in ("Normal", "LogNormal"):
        mu, sigma, low, high = parameters
        value = ops.f(mu) + ops.f(sigma) * _standard_normal(ops, block(0))
        return _clip(ops, ops.exp(value) if kind == "LogNormal" else value, low, high)
    if kind == "Exponential":
        rate, low, high = parameters
        value = -ops.log(ops.uniform(block(0)[:n], open_=True)) / ops.f(rate)
        return _clip(ops, value, low, high)
    alpha, beta, low, high = parameters  # Gamma
    return _clip(ops, _gamma(ops, alpha, beta, block), low, high)


# ---------------------------------------------------------------------------------------------
# Checks shared by both halves.


def split_seed(seed: int) -> tuple[int, int]:
    """The Philox key of a 64-bit seed: (low word, high word).

    >>> [hex(w) for w in split_seed(0x0123456789ABCDEF)]
    ['0x89abcdef', '0x1234567']
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InvalidTypeError(f"seed must be an int, got {seed!r} ({type(seed).__name__})")
    if not 0 <= int(seed) <= _MASK64:
        raise InvalidValueError(f"seed must lie in [0, 2**64 - 1], got {seed}")
    return int(seed) & _MASK32, int(seed) >> 32


def derive_seed(seed: int, stream: int) -> int:
    """A 64-bit seed for stream `stream` (e.g. a population's id) of a network seed: two
    Philox words of counter (stream low, stream high, 0, 0xffffffff) under the seed's key, so
    the streams of one seed share no counters.

    >>> derive_seed(42, 0) != derive_seed(42, 1) != derive_seed(43, 0)
    True
    """
    stream_low, stream_high = split_seed(stream)
    low, high, _, _ = philox4x32((stream_low, stream_high, 0, _MASK32), split_seed(seed))
    return int(low) | int(high) << 32


def _check_index(name: str, value, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidTypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if not 0 <= int(value) <= limit:
        raise InvalidValueError(f"{name} must lie in [0, {limit}], got {value}")
    return int(value)


def _check_dtype(dtype) -> str:
    name = np.dtype(dtype).name if isinstance(dtype, type | np.dtype) else dtype
    if name not in DTYPES:
        raise InvalidValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return name


def _stand_ins(kind: str, fields: tuple, parameters: tuple) -> tuple:
    """`parameters` with each non-number (a runtime tensor) replaced by a value that passes
    every rule with the numbers given: None for a clip bound, a neighbour of the other bound
    for Uniform's, else 1."""
    result = []
    for field, p in zip(fields, parameters, strict=True):
        if p is None or _is_number(p):
            result.append(p)
        elif kind in ("Uniform", "DiscreteUniform"):
            other = parameters[1] if field == "min" else parameters[0]
            base = other if _is_number(other) else (1 if field == "min" else 0)
            result.append(base - 1 if field == "min" else base + 1)
        else:
            result.append(None if field in ("min", "max") else 1)
    return tuple(result)


def _check_draw(kind: str, parameters: tuple, dtype: str) -> tuple:
    """Numeric parameters validated like the distribution's constructor does, and refused
    when they overflow `dtype`. Runtime values (tensors) pass unchecked."""
    if kind not in distributions.KINDS:
        raise InvalidValueError(f"unknown random distribution {kind!r}; known: "
                                f"{', '.join(distributions.KINDS)}")
    fields = distributions.KINDS[kind]._fields
    if not isinstance(parameters, tuple | list) or len(parameters) != len(fields):
        raise InvalidValueError(f"{kind}: expected {len(fields)} parameters {fields}, got "
                                f"{parameters!r}")
    parameters = tuple(parameters)
    if all(p is None or _is_number(p) for p in parameters):
        parameters = distributions.from_description(kind, parameters).parameters
    else:  # the numbers are checked with each runtime value replaced by a valid one
        distributions.from_description(kind, _stand_ins(kind, fields, parameters))
    limit = float(np.finfo(dtype).max)
    for field, value in zip(fields, parameters, strict=True):
        if _is_number(value) and abs(value) > limit:
            raise InvalidValueError(f"{kind}: {field}={value!r} overflows {dtype}")
    return parameters


# ---------------------------------------------------------------------------------------------
# NumPy half.


def philox4x32(counter: Sequence, key: Sequence[int], rounds: int = ROUNDS) -> tuple:
    """Philox4x32 of `counter` (4 words: ints or uint32 arrays, broadcast together) under
    `key` (2 ints); returns 4 uint32 arrays.

    >>> [hex(int(w)) for w in philox4x32((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
    ...                                   (0xA4093822, 0x299F31D0))]
    ['0xd16cfe09', '0x94fdcceb', '0x5001e420', '0x24126ea1']
    """
    if len(counter) != 4 or len(key) != 2:
        raise InvalidValueError("philox4x32 takes 4 counter words and 2 key words")
    key = tuple(_check_index("key word", k, _MASK32) for k in key)
    words = _philox(_NumpyOps(), counter, key, rounds)
    return tuple(np.array(w, dtype=np.uint32) for w in np.broadcast_arrays(*words))


def _neurons(neuron_indices) -> np.ndarray:
    neurons = np.asarray(neuron_indices)
    if neurons.dtype.kind not in "iu":
        raise InvalidTypeError(f"neuron_indices must be integers, got dtype {neurons.dtype}")
    if neurons.size and (neurons.min() < 0 or neurons.max() > _MASK32):
        raise InvalidValueError("neuron_indices must lie in [0, 2**32 - 1]")
    return neurons.astype(np.uint32)


def random_words(seed: int, neuron_indices, step: int, draw_index: int,
                 call: int = 0) -> tuple:
    """The 4 uint32 words of Philox block `call` of draw `draw_index`, per neuron.

    >>> w = random_words(1, [0, 1], step=0, draw_index=0)
    >>> len(w), w[0].dtype, w[0].shape
    (4, dtype('uint32'), (2,))
    """
    key = split_seed(seed)
    step = _check_index("step", step, _MASK64)
    draw_index = _check_index("draw_index", draw_index, MAX_DRAW_INDEX)
    call = _check_index("call", call, MAX_CALL)
    return philox4x32(_counter(None, _neurons(neuron_indices), step, draw_index, call), key)


def draw_numpy(kind: str, parameters: tuple, seed: int, neuron_indices, step: int,
               draw_index: int, dtype: str = "float64") -> np.ndarray:
    """What `draw_te` computes, per neuron: one draw of distribution `kind` (a
    `tecomp.distributions` class name) with `parameters` (that class's `.parameters`).

    >>> v = draw_numpy("Normal", (0.0, 1.0, None, None), 7, range(100_000), 3, 0)
    >>> abs(float(v.mean())) < 0.02, abs(float(v.std()) - 1.0) < 0.02
    (True, True)
    """
    dtype = _check_dtype(dtype)
    parameters = _check_draw(kind, parameters, dtype)
    if not all(p is None or _is_number(p) for p in parameters):
        raise InvalidTypeError(f"{kind}: draw_numpy needs numeric parameters, got "
                               f"{parameters!r}")
    key = split_seed(seed)
    step = _check_index("step", step, _MASK64)
    draw_index = _check_index("draw_index", draw_index, MAX_DRAW_INDEX)
    neurons = _neurons(neuron_indices)
    ops = _NumpyOps(dtype)
    with np.errstate(all="ignore"):  # log of a rejected v <= 0, exp overflow to inf
        value = _draw(ops, kind, parameters, _blocks(ops, key, neurons, step, draw_index))
    return np.array(np.broadcast_to(value, neurons.shape), dtype=dtype)


# ---------------------------------------------------------------------------------------------
# TE half (imports TVM when called): `te.extern` stages, one loop over the neurons.

_GROUPS_PER_CHUNK = 256  # vector groups per parallel task
_PARALLEL_FROM = 1 << 14  # smaller populations: one thread (a pool wake-up costs ~10 us)


def _tensor_or(value, name: str, shape: tuple, dtypes: tuple):
    """None for a non-tensor, else the tensor after checking its shape and dtype."""
    from tvm import te

    if not isinstance(value, te.Tensor):
        return None
    if tuple(int(n) for n in value.shape) != shape or str(value.dtype) not in dtypes:
        raise InvalidValueError(f"{name} must be a tensor of shape {shape} and dtype "
                                f"{' or '.join(dtypes)}, got {tuple(value.shape)} "
                                f"{value.dtype}")
    return value


def _stage(name: str, size: int, inputs: list, outputs: list[str], body: Callable,
           parallel: bool | None):
    """A `te.extern` over neurons 0..size-1: `body(ops, loads, i)` returns one value per
    output; `loads[k](index)` reads `inputs[k]`. Groups of `lanes` neurons run as one TVM
    vector loop (local scalars become local vectors, kept in registers); the last
    ``size % lanes`` neurons run one by one."""
    from tvm import te, tirx

    if _check_index("size", size, 2**31 - 1) == 0:
        raise InvalidValueError("size must be at least 1")
    parallel = size >= _PARALLEL_FROM if parallel is None else bool(parallel)
    dtype = outputs[0] if outputs[0] in DTYPES else "float32"
    lanes = 8  # uint32 words fill a 256-bit register; doubles take two

    def neurons(ins, outs, i, lane, lanes):
        ops = _TEOps(dtype, lane, lanes)
        loads = [functools.partial(lambda buffer, k: tirx.BufferLoad(buffer, [k]), b)
                 for b in ins]
        values = body(ops, loads, i)
        stores = [tirx.BufferStore(out, value, [i])
                  for out, value in zip(outs, values, strict=True)]
        return ops.allocations, tirx.SeqStmt(ops.statements + stores)

    def fcompute(ins, outs):
        chunk, group, lane = (tirx.Var(n, "int32") for n in ("chunk", "group", "lane"))
        groups = size // lanes
        first = chunk * _GROUPS_PER_CHUNK
        allocations, lane_body = neurons(ins, outs, (first + group) * lanes + lane, lane,
                                         lanes)
        vector = tirx.For(lane, 0, lanes, tirx.ForKind.VECTORIZED, lane_body)
        extent = tirx.Min(tirx.const(_GROUPS_PER_CHUNK, "int32"), groups - first)
        # the scalars are allocated once per chunk of groups (in the parallel task)
        chunk_body = tirx.SeqStmt([*allocations,
                                   tirx.For(group, 0, extent, tirx.ForKind.SERIAL, vector)])
        kind = tirx.ForKind.PARALLEL if parallel else tirx.ForKind.SERIAL
        chunks = (groups + _GROUPS_PER_CHUNK - 1) // _GROUPS_PER_CHUNK
        loops = [tirx.For(chunk, 0, chunks, kind, chunk_body)] if groups else []
        if size % lanes:
            rest = tirx.Var("rest", "int32")
            allocations, one = neurons(ins, outs, rest, None, 1)
            loops.append(tirx.For(rest, size - size % lanes, size % lanes,
                                  tirx.ForKind.SERIAL, tirx.SeqStmt([*allocations, one])))
        return loops[0] if len(loops) == 1 else tirx.SeqStmt(loops)

    return te.extern([(size,)] * len(outputs), inputs, fcompute, name=name,
                     dtype=list(outputs))


def _key_loads(seed, inputs: list) -> Callable:
    """The key words as a function of the stage's loads: constants for an int seed, else
    loads of a (2,) uint32 tensor (a new seed then needs no recompile)."""
    tensor = _tensor_or(seed, "seed", (2,), ("uint32",))
    if tensor is None:
        key = split_seed(seed)
        return lambda loads: key
    inputs.append(tensor)
    k = len(inputs) - 1
    return lambda loads: (loads[k](0), loads[k](1))


def _step_expr(step):
    if isinstance(step, numbers.Integral):
        return _check_index("step", step, _MASK64)
    step = _expr(step)
    if _base(step) not in ("int32", "int64", "uint32", "uint64"):
        raise InvalidTypeError(f"step must be an int or an integer expression, got {step!r}")
    return step


def draw_stage(kind: str, parameters: tuple, seed, step, size: int, draw_index: int,
               dtype: str = "float64", name: str | None = None,
               parallel: bool | None = None) -> Tensor:
    """A TE stage ``R`` of shape (size,) with ``R[i]`` = the draw of `kind` for neuron `i`
    at `step`; read it in the update's `te.compute` as ``R[i]``.

    `parameters`: the distribution's `.parameters` (numbers, None for an absent clip
    bound), or (1,) tensors of `dtype` for values read at run time (e.g. global parameters;
    not validated). `seed`: an int, or a (2,) uint32 tensor holding `split_seed(seed)`.
    `step`: an int or an integer scalar expression (a `te.var` of the kernel). The stage is
    an extern block with its own loops (parallel from 16384 neurons unless `parallel` says),
    so the update's schedule needs no change."""
    dtype = _check_dtype(dtype)
    draw_index = _check_index("draw_index", draw_index, MAX_DRAW_INDEX)
    step = _step_expr(step)
    inputs: list = []
    key = _key_loads(seed, inputs)
    parameters = _check_draw(kind, parameters, dtype)
    slots = {}
    for k, p in enumerate(parameters):
        if _tensor_or(p, f"{kind} parameter {k}", (1,), (dtype,)) is not None:
            inputs.append(p)
            slots[k] = len(inputs) - 1

    def body(ops, loads, i):
        values = tuple(loads[slots[k]](0) if k in slots else p
                       for k, p in enumerate(parameters))
        return [_draw(ops, kind, values, _blocks(ops, key(loads), i, step, draw_index))]

    return _stage(name or f"rng_{kind}_{draw_index}", size, inputs, [dtype], body, parallel)


def draw_te(kind: str, parameters: tuple, seed, neuron_index, step, draw_index: int,
            dtype: str = "float64", *, size: int) -> PrimExpr:
    """``draw_stage(...)[neuron_index]``: the draw as a PrimExpr for a `te.compute` body over
    `size` neurons. Each call makes a new stage: for a draw read twice, keep the tensor."""
    stage = draw_stage(kind, parameters, seed, step, size, draw_index, dtype)
    return stage[neuron_index]


def words_stage(seed, step, size: int, draw_index: int, call: int = 0,
                parallel: bool | None = None) -> tuple[Tensor, ...]:
    """`random_words` in a kernel: 4 uint32 tensors of shape (size,) from one stage (one
    Philox block per neuron)."""
    draw_index = _check_index("draw_index", draw_index, MAX_DRAW_INDEX)
    call = _check_index("call", call, MAX_CALL)
    step = _step_expr(step)
    inputs: list = []
    key = _key_loads(seed, inputs)

    def body(ops, loads, i):
        counter = _counter(ops, i, step, draw_index, call)
        return list(ops.philox(counter, key(loads), ROUNDS))

    stage = _stage(f"rng_words_{draw_index}_{call}", size, inputs, ["uint32"] * 4, body,
                   parallel)
    return tuple(stage)


def philox4x32_stage(counter: Sequence, key, rounds: int = ROUNDS) -> tuple[Tensor, ...]:
    """Philox4x32 in a kernel: `counter` is 4 uint32 tensors of one shape (n,), `key` two
    ints or a (2,) uint32 tensor; returns 4 uint32 tensors of shape (n,)."""
    from tvm import te

    if len(counter) != 4 or not all(isinstance(c, te.Tensor) for c in counter):
        raise InvalidTypeError("philox4x32_stage takes 4 uint32 counter tensors")
    size = int(counter[0].shape[0])
    for c in counter:
        _tensor_or(c, "counter", (size,), ("uint32",))
    inputs = list(counter)
    key_of = _key_loads(key if not isinstance(key, tuple | list) else
                        (_check_index("key word", key[0], _MASK32)
                         | _check_index("key word", key[1], _MASK32) << 32), inputs)

    def body(ops, loads, i):
        return list(_philox(ops, [loads[k](i) for k in range(4)], key_of(loads), rounds))

    return tuple(_stage("rng_philox", size, inputs, ["uint32"] * 4, body, None))


def calls_per_draw(kind: str, dtype: str = "float64") -> int:
    """How many Philox blocks one draw of `kind` costs (Gamma: the attempts and the boost).

    >>> calls_per_draw("Normal"), calls_per_draw("Gamma", "float32")
    (1, 9)
    """
    dtype = _check_dtype(dtype)
    if kind != "Gamma":
        return 1
    return GAMMA_ATTEMPTS * (1 if dtype == "float32" else 2) + 1
