"""Random distributions (tecomp.distributions) and the counter-based generator (tecomp.philox).

Kernel and NumPy twin: uint32 words, uniforms and DiscreteUniform must be bit-identical;
other floats agree within 16 eps * (|value| + the distribution's scale) (LLVM fuses a*b + c
into one FMA); Gamma may differ on at most 0.1 % of draws (an acceptance test decided at a
rounding boundary).
"""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tecomp import distributions as D
from tecomp import philox
from tecomp.errors import InvalidTypeError, InvalidValueError

SEED = 0x0123_4567_89AB_CDEF
DRAW = 3
MOMENT_DRAWS = 200_000
SIZE = MOMENT_DRAWS + 3  # one kernel per case: 8-lane groups, in parallel, plus a remainder
TWIN = np.r_[0:5000, SIZE - 5000:SIZE]  # the neurons compared with the NumPy twin

# Random123 tests/kat_vectors, "philox4x32" lines: counter (4 words), key (2), expected (4).
# The R = 10 lines are the brief's; the same file's R = 7 lines pin the round structure.
KAT = [
    (10, (0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (10, (0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (10, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
    (7, (0, 0, 0, 0), (0, 0), (0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48)),
    (7, (0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662)),
    (7, (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A)),
]

# One case per distribution (unclipped: their moments are known in closed form).
CASES = {
    "Uniform": (-1.0, 3.0),
    "DiscreteUniform": (-3, 7),
    "Normal": (1.0, 2.0, None, None),
    "LogNormal": (0.2, 0.5, None, None),
    "Exponential": (2.5, None, None),
    "Gamma": (2.5, 1.5, None, None),
}
GAMMA_SMALL = (0.4, 2.0, None, None)  # the alpha < 1 boost


def _raw_moments(kind: str, parameters: tuple) -> list[float]:
    """E[X**k], k = 1..4."""
    ks = range(1, 5)
    if kind == "Uniform":
        a, b = parameters
        return [(b ** (k + 1) - a ** (k + 1)) / ((k + 1) * (b - a)) for k in ks]
    if kind == "DiscreteUniform":
        values = np.arange(parameters[0], parameters[1] + 1, dtype=np.float64)
        return [float(np.mean(values**k)) for k in ks]
    if kind == "Normal":
        mu, s = parameters[:2]
        return [mu, mu**2 + s**2, mu**3 + 3 * mu * s**2, mu**4 + 6 * mu**2 * s**2 + 3 * s**4]
    if kind == "LogNormal":
        mu, s = parameters[:2]
        return [math.exp(k * mu + k * k * s * s / 2) for k in ks]
    if kind == "Exponential":
        rate = parameters[0]
        return [math.factorial(k) / rate**k for k in ks]
    alpha, beta = parameters[:2]  # Gamma
    return [beta**k * math.prod(alpha + j for j in range(k)) for k in ks]


def _check_moments(values: np.ndarray, kind: str, parameters: tuple) -> None:
    """Mean and variance within 5 standard errors of the exact ones."""
    m1, m2, m3, m4 = _raw_moments(kind, parameters)
    variance = m2 - m1**2
    central4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    n = values.size
    x = values.astype(np.float64)
    mean_error = abs(x.mean() - m1) / math.sqrt(variance / n)
    var_error = abs(x.var() - variance) / math.sqrt((central4 - variance**2) / n)
    assert mean_error < 5, f"{kind}{parameters}: mean {x.mean()} vs {m1} ({mean_error:.1f} SE)"
    assert var_error < 5, f"{kind}{parameters}: var {x.var()} vs {variance} ({var_error:.1f} SE)"


def _scale(parameters: tuple) -> float:
    return max(abs(p) for p in parameters if p is not None)


def _assert_twin(got: np.ndarray, want: np.ndarray, kind: str, parameters: tuple) -> None:
    """The kernel's floats against draw_numpy's (see the module docstring)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    if kind == "DiscreteUniform" or (kind == "Uniform" and parameters == (-1.0, 3.0)):
        np.testing.assert_array_equal(got, want)
        return
    eps = np.finfo(got.dtype).eps
    close = np.abs(got.astype(np.float64) - want) <= 16 * eps * (np.abs(want) + _scale(parameters))
    allowed = 0.001 * got.size if kind == "Gamma" else 0
    assert np.count_nonzero(~close) <= allowed, (kind, np.flatnonzero(~close)[:5])


# ---------------------------------------------------------------------------------------------
# Kernels (compiled once per module run)


@pytest.fixture(scope="module")
def tvm_modules():
    import tvm
    from tvm import te, tirx

    import tecomp.build as build

    return tvm, te, tirx, build


@pytest.fixture(scope="module")
def kernel(tvm_modules):
    """kernel(kind, parameters, dtype, size) -> f(step) -> draws (the seed in a buffer)."""
    tvm, te, _, build = tvm_modules
    cache = {}

    def make(kind, parameters, dtype, size):
        key = (kind, parameters, dtype, size)
        if key not in cache:
            step = te.var("step", "int64")
            seed = te.placeholder((2,), "uint32", "seed")
            draws = philox.draw_stage(kind, parameters, seed, step, size, DRAW, dtype)
            lib = build.compile_module(tvm.IRModule(
                {"main": te.create_prim_func([seed, step, draws])}))
            words = build.aligned_copy(np.array(philox.split_seed(SEED)), "uint32")

            def run(at_step, lib=lib, words=words):
                out = build.aligned_empty((size,), dtype)
                lib["main"](words, at_step, out)
                return out

            cache[key] = run
        return cache[key]

    return make


# ---------------------------------------------------------------------------------------------
# (a) Philox known answers


@pytest.mark.parametrize(("rounds", "counter", "key", "expected"), KAT)
def test_philox_known_answers_numpy(rounds, counter, key, expected):
    words = philox.philox4x32(counter, key, rounds=rounds)
    assert [int(w) for w in words] == list(expected)


def test_philox_known_answers_kernel(tvm_modules):
    tvm, te, _, build = tvm_modules
    for rounds in (10, 7):
        cases = [c for c in KAT if c[0] == rounds]
        counters = [te.placeholder((len(cases),), "uint32", f"c{j}") for j in range(4)]
        results = []
        for key in {c[2] for c in cases}:  # the key is a kernel constant here
            outs = philox.philox4x32_stage(counters, key, rounds=rounds)
            lib = build.compile_module(tvm.IRModule({"main": te.create_prim_func(
                [*counters, *outs])}))
            args = [build.aligned_copy(np.array([c[1][j] for c in cases]), "uint32")
                    for j in range(4)]
            got = [build.aligned_empty((len(cases),), "uint32") for _ in range(4)]
            lib["main"](*args, *got)
            results += [(case, [int(g[n]) for g in got]) for n, case in enumerate(cases)
                        if case[2] == key]
        for case, words in results:
            assert words == list(case[3]), case


# ---------------------------------------------------------------------------------------------
# (b) kernel == NumPy twin


def test_words_bit_identical(tvm_modules):
    tvm, te, _, build = tvm_modules
    size = 10_003  # not a multiple of the 8 lanes: the remainder loop runs too
    step = te.var("step", "int64")
    seed = te.placeholder((2,), "uint32", "seed")
    words = philox.words_stage(seed, step, size, DRAW, call=5)
    lib = build.compile_module(tvm.IRModule({"main": te.create_prim_func(
        [seed, step, *words])}))
    key = build.aligned_copy(np.array(philox.split_seed(SEED)), "uint32")
    for at_step in (0, 1, 7, 2**32 + 3, 2**63 - 5):  # the step parameter is an int64
        got = [build.aligned_empty((size,), "uint32") for _ in range(4)]
        lib["main"](key, at_step, *got)
        want = philox.random_words(SEED, np.arange(size), at_step, DRAW, call=5)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", [*CASES, "Gamma_small", "Normal_clipped"])
def test_kernel_matches_numpy(kernel, kind, dtype):
    parameters = {"Gamma_small": GAMMA_SMALL, "Normal_clipped": (0.0, 1.0, -0.5, 0.8)}.get(
        kind, CASES.get(kind))
    kind = kind.split("_")[0]
    run = kernel(kind, parameters, dtype, SIZE)
    for at_step in (0, 1, 2**32 + 5):
        got = run(at_step)
        want = philox.draw_numpy(kind, parameters, SEED, TWIN, at_step, DRAW, dtype)
        assert np.isfinite(got).all()
        _assert_twin(got[TWIN], want, kind, parameters)


def test_uniform_01_is_the_raw_uniform():
    """Uniform(0, 1) is the 24-/53-bit uniform itself, so it is exact on both sides."""
    words = philox.random_words(SEED, np.arange(1000), 4, DRAW)
    u32 = philox.draw_numpy("Uniform", (0.0, 1.0), SEED, np.arange(1000), 4, DRAW, "float32")
    np.testing.assert_array_equal(u32, (words[0] >> 8).astype(np.float32) * np.float32(2**-24))
    u64 = philox.draw_numpy("Uniform", (0.0, 1.0), SEED, np.arange(1000), 4, DRAW, "float64")
    k = (words[0].astype(np.uint64) >> np.uint64(5) << np.uint64(26)) \
        | (words[1].astype(np.uint64) >> np.uint64(6))
    np.testing.assert_array_equal(u64, k.astype(np.float64) * 2.0**-53)


def test_runtime_parameters_and_constant_seed(tvm_modules):
    """Parameters from (1,) tensors (ANNarchy allows global parameters as arguments), an int
    seed compiled in, and consumer te.computes that read the stages, as an update would."""
    tvm, te, tirx, build = tvm_modules
    size = 4099
    step = te.var("step", "int64")
    one = {name: te.placeholder((1,), "float64", name) for name in ("mu", "sigma", "alpha",
                                                                   "low", "high")}
    x = te.placeholder((size,), "float64", "x")
    stages = [
        ("Normal", (one["mu"], one["sigma"], None, 3.0)),
        ("Gamma", (one["alpha"], 2.0, None, None)),  # alpha < 1 or not: decided at run time
        ("DiscreteUniform", (one["low"], one["high"])),
    ]
    draws = [philox.draw_stage(kind, p, SEED, step, size, DRAW + k)
             for k, (kind, p) in enumerate(stages)]
    update = te.compute((size,), lambda i: x[i] * tirx.const(0.5, "float64") + draws[0][i],
                        name="update")
    def copy(stage, name):
        return te.compute((size,), lambda i: stage[i], name=name)

    rest = [copy(d, f"copy{k}") for k, d in enumerate(draws[1:])]
    other = te.compute((size,), lambda i: philox.draw_te(
        "Uniform", (0.0, 1.0), SEED, i, step, DRAW + 5, "float64", size=size), name="other")
    lib = build.compile_module(tvm.IRModule({"main": te.create_prim_func(
        [*one.values(), x, step, update, *rest, other])}))
    xs = build.aligned_copy(np.linspace(-1, 1, size), "float64")
    neurons = np.arange(size)
    for alpha in (0.4, 2.5):
        values = {"mu": 0.5, "sigma": 1.5, "alpha": alpha, "low": -2.0, "high": 5.0}
        args = [build.aligned_copy(np.array([values[n]]), "float64") for n in one]
        outs = [build.aligned_empty((size,), "float64") for _ in range(4)]
        lib["main"](*args, xs, 9, *outs)
        for k, (kind, _) in enumerate(stages):
            numbers = {"Normal": (0.5, 1.5, None, 3.0), "Gamma": (alpha, 2.0, None, None),
                       "DiscreteUniform": (-2, 5)}[kind]
            got = outs[0] - xs * 0.5 if k == 0 else outs[k]
            want = philox.draw_numpy(kind, numbers, SEED, neurons, 9, DRAW + k)
            if k == 0:  # the update's own FMA adds a rounding
                np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
            else:
                _assert_twin(got, want, kind, numbers)
        np.testing.assert_array_equal(outs[3], philox.draw_numpy(
            "Uniform", (0.0, 1.0), SEED, neurons, 9, DRAW + 5))


# ---------------------------------------------------------------------------------------------
# (c) moments, clipping, bounds


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", CASES)
def test_moments_numpy(kind, dtype):
    values = philox.draw_numpy(kind, CASES[kind], SEED, np.arange(MOMENT_DRAWS), 11, DRAW,
                               dtype)
    _check_moments(values, kind, CASES[kind])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", [*CASES, "Gamma_small"])
def test_moments_kernel(kernel, kind, dtype):
    parameters = GAMMA_SMALL if kind == "Gamma_small" else CASES[kind]
    kind = kind.split("_")[0]
    values = kernel(kind, parameters, dtype, SIZE)(12)  # parallel: >= 16384 neurons
    _check_moments(values, kind, parameters)


@pytest.mark.parametrize("kind", list(D.KINDS))
def test_distribution_objects_moments(kind):
    """get_values (NumPy's Generator, like ANNarchy's Python side), same exact moments."""
    values = D.from_description(kind, CASES[kind]).get_values(MOMENT_DRAWS,
                                                             np.random.default_rng(5))
    assert values.dtype == np.float64 and values.shape == (MOMENT_DRAWS,)
    _check_moments(values, kind, CASES[kind])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clipping_and_discrete_bounds(kernel, dtype):
    for kind, parameters in [("Normal", (0.0, 1.0, -0.5, 0.8)), ("LogNormal", (0.0, 1.0, 0.5, 2)),
                             ("Exponential", (1.0, 0.1, 2.0)), ("Gamma", (2.0, 1.0, 1.0, 3.0))]:
        low, high = parameters[-2:]
        for values in (kernel(kind, parameters, dtype, SIZE)(3),
                       philox.draw_numpy(kind, parameters, SEED, np.arange(20_000), 3, DRAW,
                                         dtype)):
            assert values.min() == values.dtype.type(low)
            assert values.max() == values.dtype.type(high)
    for values in (kernel("DiscreteUniform", (-3, 7), dtype, SIZE)(3),
                   philox.draw_numpy("DiscreteUniform", (-3, 7), SEED, np.arange(20_000), 3,
                                     DRAW, dtype)):
        assert set(np.unique(values).tolist()) == set(range(-3, 8))
    full = philox.draw_numpy("DiscreteUniform", (-(2**31), 2**31 - 1), SEED, np.arange(20_000),
                             3, DRAW, "float64")
    assert full.min() >= -(2**31) and full.max() <= 2**31 - 1 and np.all(full == np.floor(full))
    objects = D.DiscreteUniform(0, 2).get_values(1000, np.random.default_rng(0))
    assert set(objects.tolist()) == {0.0, 1.0, 2.0}
    clipped = D.Normal(0.0, 1.0, min=-0.1, max=0.1).get_values(1000, np.random.default_rng(0))
    assert clipped.min() == -0.1 and clipped.max() == 0.1


def test_gamma_fallback_is_finite():
    """Extreme shapes: every draw finite and positive (the fallback never yields NaN)."""
    for alpha in (1e-3, 0.999, 1.0, 1e4):
        for dtype in ("float32", "float64"):
            values = philox.draw_numpy("Gamma", (alpha, 1.0, None, None), SEED,
                                       np.arange(5000), 1, DRAW, dtype)
            assert np.isfinite(values).all() and (values >= 0).all()


# ---------------------------------------------------------------------------------------------
# (d) independence, (e) reproducibility


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])


def test_independence(kernel):
    n = 400_000
    neurons = np.arange(n)
    for kind, parameters, dtype in [("Uniform", (0.0, 1.0), "float32"),
                                    ("Normal", (0.0, 1.0, None, None), "float64")]:
        now = philox.draw_numpy(kind, parameters, SEED, neurons, 100, DRAW, dtype)
        pairs = {
            "neighbouring neurons": (now[:-1], now[1:]),
            "consecutive steps": (now, philox.draw_numpy(kind, parameters, SEED, neurons, 101,
                                                         DRAW, dtype)),
            "step 2**32 apart": (now, philox.draw_numpy(kind, parameters, SEED, neurons,
                                                        100 + 2**32, DRAW, dtype)),
            "next draw index": (now, philox.draw_numpy(kind, parameters, SEED, neurons, 100,
                                                       DRAW + 1, dtype)),
            "seed + 1": (now, philox.draw_numpy(kind, parameters, SEED + 1, neurons, 100, DRAW,
                                                dtype)),
        }
        for what, (a, b) in pairs.items():
            assert abs(_correlation(a, b)) < 0.01, (kind, what)
    run = kernel("Normal", (0.0, 1.0, None, None), "float64", SIZE)
    first, second = run(40), run(41)
    assert abs(_correlation(first[:-1], first[1:])) < 0.01
    assert abs(_correlation(first, second)) < 0.01


def test_reproducibility(kernel):
    run = kernel("Normal", (0.0, 1.0, None, None), "float32", SIZE)
    np.testing.assert_array_equal(run(17), run(17))
    assert np.mean(run(17) == run(18)) < 1e-3
    neurons = np.arange(10_000)
    same = [philox.draw_numpy("Gamma", CASES["Gamma"], s, neurons, 5, DRAW) for s in (1, 1, 2)]
    np.testing.assert_array_equal(same[0], same[1])
    assert np.mean(same[0] == same[2]) < 1e-3
    assert philox.derive_seed(SEED, 1) != philox.derive_seed(SEED, 2)
    dist = D.Uniform(0.0, 1.0)
    np.testing.assert_array_equal(dist.get_values(50, np.random.default_rng(3)),
                                  dist.get_values(50, np.random.default_rng(3)))
    seeded = D.Normal(0.0, 1.0, rng=np.random.default_rng(8))
    assert seeded.get_value() == D.Normal(0.0, 1.0).get_value(np.random.default_rng(8))


# ---------------------------------------------------------------------------------------------
# (f) bad parameters, and the API's own checks

BAD = [
    (lambda: D.Uniform(1.0, 1.0), InvalidValueError, "min must be smaller than max"),
    (lambda: D.Uniform(2.0, 1.0), InvalidValueError, "min must be smaller than max"),
    (lambda: D.Uniform("0", 1.0), InvalidTypeError, "min must be a number"),
    (lambda: D.Uniform(0.0, math.inf), InvalidValueError, "max must be finite"),
    (lambda: D.DiscreteUniform(0, 2.5), InvalidValueError, "max must be a whole number"),
    (lambda: D.DiscreteUniform(3, 3), InvalidValueError, "min must be smaller than max"),
    (lambda: D.DiscreteUniform(0, 2**31), InvalidValueError, "32-bit int range"),
    (lambda: D.DiscreteUniform(True, 3), InvalidTypeError, "min must be a number"),
    (lambda: D.Normal(0.0, -1.0), InvalidValueError, "sigma must be >= 0, got -1.0"),
    (lambda: D.Normal(math.nan, 1.0), InvalidValueError, "mu must be finite"),
    (lambda: D.Normal(0.0, 1.0, min=1.0, max=0.0), InvalidValueError, "min must not exceed"),
    (lambda: D.Normal(0.0, 1.0, min="a"), InvalidTypeError, "min must be a number"),
    (lambda: D.LogNormal(0.0, -0.1), InvalidValueError, "sigma must be >= 0"),
    (lambda: D.LogNormal(0.0, 1.0, max=math.nan), InvalidValueError, "max must be finite"),
    (lambda: D.Exponential(0.0), InvalidValueError, "Lambda (the rate) must be > 0, got 0.0"),
    (lambda: D.Exponential(-2.0), InvalidValueError, "must be > 0"),
    (lambda: D.Exponential(None), InvalidTypeError, "must be a number"),
    (lambda: D.Gamma(0.0), InvalidValueError, "alpha (the shape) must be > 0"),
    (lambda: D.Gamma(1.0, -1.0), InvalidValueError, "beta (the scale) must be > 0"),
    (lambda: D.Gamma(1.0, 1.0, min=2.0, max=1.0), InvalidValueError, "min must not exceed"),
    (lambda: D.Gamma([1.0]), InvalidTypeError, "alpha (the shape) must be a number"),
    (lambda: D.Normal(0.0, 1.0, rng=42), InvalidTypeError, "numpy.random.Generator"),
    (lambda: D.Normal(0.0, 1.0).get_values(3, rng=np.random.RandomState(0)), InvalidTypeError,
     "numpy.random.Generator"),
    (lambda: D.from_description("Poisson", (1.0,)), InvalidValueError, "unknown random"),
    (lambda: D.from_description("Normal", (0.0, 1.0)), InvalidValueError, "expected 4"),
    (lambda: philox.draw_numpy("Normal", (0.0, -1.0, None, None), 1, [0], 0, 0),
     InvalidValueError, "sigma must be >= 0"),
    (lambda: philox.draw_numpy("Normal", (1e39, 1.0, None, None), 1, [0], 0, 0, "float32"),
     InvalidValueError, "overflows float32"),
    (lambda: philox.draw_numpy("Uniform", (0.0, 1.0), -1, [0], 0, 0), InvalidValueError,
     "seed must lie in"),
    (lambda: philox.draw_numpy("Uniform", (0.0, 1.0), 1.5, [0], 0, 0), InvalidTypeError,
     "seed must be an int"),
    (lambda: philox.draw_numpy("Uniform", (0.0, 1.0), 1, [0], 0, 2**16), InvalidValueError,
     "draw_index must lie in"),
    (lambda: philox.draw_numpy("Uniform", (0.0, 1.0), 1, [0], -1, 0), InvalidValueError,
     "step must lie in"),
    (lambda: philox.draw_numpy("Uniform", (0.0, 1.0), 1, [0.5], 0, 0), InvalidTypeError,
     "neuron_indices must be integers"),
    (lambda: philox.draw_numpy("Uniform", (0.0, 1.0), 1, [0], 0, 0, "float16"),
     InvalidValueError, "dtype must be"),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD)
def test_bad_parameters(make, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_bad_kernel_arguments(tvm_modules):
    _, te, _, _ = tvm_modules
    step = te.var("step", "int64")
    with pytest.raises(InvalidValueError, match="seed must be a tensor of shape"):
        philox.draw_stage("Uniform", (0.0, 1.0), te.placeholder((3,), "uint32"), step, 8, 0)
    with pytest.raises(InvalidValueError, match="must be a tensor of shape"):
        philox.draw_stage("Normal", (te.placeholder((1,), "float32"), 1.0, None, None), 1,
                          step, 8, 0, "float64")
    with pytest.raises(InvalidValueError, match="sigma must be >= 0"):
        philox.draw_stage("Normal", (te.placeholder((1,), "float64"), -1.0, None, None), 1,
                          step, 8, 0)
    with pytest.raises(InvalidTypeError, match="step must be"):
        philox.draw_stage("Uniform", (0.0, 1.0), 1, te.var("t", "float32"), 8, 0)


# ---------------------------------------------------------------------------------------------
# ANNarchy 5.0.4.1 semantics kept, and the documented departures


def test_annarchy_signatures_and_defaults():
    assert D.Gamma(2.0).parameters == (2.0, 1.0, None, None)  # beta defaults to 1 (scale)
    assert D.Normal(0, 1).description == ("Normal", (0.0, 1.0, None, None))
    assert D.Exponential(2.0, max=1.0).parameters == (2.0, None, 1.0)
    assert D.DiscreteUniform(1.0, 4.0).parameters == (1, 4)
    assert repr(D.Uniform(0, 1)) == "Uniform(min=0.0, max=1.0)"
    assert hash(D.LogNormal(0.0, 1.0, min=0.5).description)  # fits a frozen spec
    for kind, cls in D.KINDS.items():
        assert D.from_description(*cls(*CASES[kind]).description).parameters == \
            cls(*CASES[kind]).parameters
    assert D.Normal(0.0, 0.0).get_value(np.random.default_rng(0)) == 0.0  # sigma 0 allowed
    # Exponential: rate everywhere (ANNarchy's Python side used it as NumPy's scale)
    assert abs(D.Exponential(4.0).get_values(100_000, np.random.default_rng(1)).mean()
               - 0.25) < 0.01


def test_imports_without_tvm():
    """distributions and the NumPy half of philox need no TVM."""
    code = textwrap.dedent("""
        import importlib.util, sys, types
        sys.modules["tvm"] = None  # any `import tvm` raises ImportError
        spec = importlib.util.find_spec("tecomp")
        package = types.ModuleType("tecomp")  # skip tecomp/__init__ (it builds networks)
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["tecomp"] = package
        from tecomp import distributions, philox
        v = philox.draw_numpy("Gamma", (0.5, 1.0, None, None), 1, range(100), 0, 0)
        assert v.shape == (100,)
        assert distributions.Normal(0, 1).get_values(3).shape == (3,)
        assert "tvm" not in [m for m in sys.modules if m == "tvm" and sys.modules[m]]
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
