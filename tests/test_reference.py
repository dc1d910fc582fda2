"""Tests of the NumPy reference: against real ANNarchy 5.0.4.1 outputs and hand-computed cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tecomp.reference import conv_centres, convolution, evaluate_psp, pooling

DATA = Path(__file__).parent / "data"
GOLDEN = sorted(DATA.glob("*.npz"))


def _run_golden(data) -> np.ndarray:
    args = json.loads(str(data["args_json"]))
    ctor, margs = args.get("ctor", {}), args.get("method_args", {})
    if args["kind"] == "Pooling":
        return pooling(
            data["pre_r"],
            args["post_geometry"],
            extent=margs.get("extent"),
            psp=ctor.get("psp", "pre.r"),
            operation=ctor.get("operation", "max"),
        )
    assert args["method"] in ("connect_filter", "connect_filters")
    return convolution(
        data["pre_r"],
        data["weights"],
        args["post_geometry"],
        bank=args["method"] == "connect_filters",
        keep_last_dimension=margs.get("keep_last_dimension", False),
        padding=margs.get("padding", 0.0),
        subsampling=margs.get("subsampling"),
        psp=ctor.get("psp", "w * pre.r"),
        operation=ctor.get("operation", "sum"),
    )


def test_golden_files_present():
    assert len(GOLDEN) == 12


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.stem)
def test_golden(path):
    data = np.load(path)
    args = json.loads(str(data["args_json"]))
    assert args["steps"] == 1  # post r = sum(exc) holds the projection result after 1 step
    result = _run_golden(data)
    expected = data["post_r"]
    assert result.shape == expected.shape == tuple(args["post_geometry"])
    assert result.dtype == np.float64
    assert np.max(np.abs(result - expected)) <= 1e-12


def test_golden_centre_of_post_10_10():
    data = np.load(DATA / "doc_subsampled_50.npz")
    expected = json.loads(str(data["extra_json"]))["pre_coordinates_of_post_10_10"]
    centres = conv_centres((100, 100), (50, 50), kernel_shape=data["weights"].shape)
    assert centres.shape == (2500, 2)
    assert centres[10 * 50 + 10].tolist() == expected == [20, 20]


# ---------------------------------------------------------------- hand-computed convolution

PRE_1D = np.array([1.0, 2.0, 3.0, 4.0])
W_1D = np.array([1.0, 10.0, 100.0])  # post[i] = pre[i-1] + 10 pre[i] + 100 pre[i+1]


def test_1d_sum_zero_padding():
    out = convolution(PRE_1D, W_1D, 4)
    assert out.tolist() == [0 + 10 + 200, 1 + 20 + 300, 2 + 30 + 400, 3 + 40 + 0]


def test_1d_sum_numeric_padding():
    out = convolution(PRE_1D, W_1D, 4, padding=5.0)
    assert out.tolist() == [5 + 10 + 200, 1 + 20 + 300, 2 + 30 + 400, 3 + 40 + 500]


def test_1d_sum_border_padding():
    out = convolution(PRE_1D, W_1D, 4, padding="border")
    assert out.tolist() == [1 + 10 + 200, 1 + 20 + 300, 2 + 30 + 400, 3 + 40 + 400]


def test_padding_goes_through_psp():
    # the padded neuron has rate 2 and still meets its weight in the psp
    out = convolution(
        np.array([1.0]), np.array([3.0, 5.0, 7.0]), 1, padding=2.0, psp="w * pre.r * pre.r"
    )
    assert out.tolist() == [3 * 4 + 5 * 1 + 7 * 4]


def test_max_negative_values_padding_zero_wins():
    pre = np.array([-1.0, -2.0, -3.0])
    out = convolution(pre, np.ones(3), 3, operation="max")
    assert out.tolist() == [max(0, -1, -2), max(-1, -2, -3), max(-2, -3, 0)]
    assert out.tolist() == [0.0, -1.0, 0.0]


def test_min_starts_from_plus_infinity():
    pre = np.array([5.0, 6.0, 7.0])
    out = convolution(pre, np.ones(3), 3, operation="min", padding="border")
    assert out.tolist() == [5.0, 5.0, 6.0]


def test_mean_divides_by_number_of_taps():
    out = convolution(PRE_1D, np.ones(3), 4, operation="mean")
    expected = [(0 + 1 + 2) / 3, (1 + 2 + 3) / 3, (2 + 3 + 4) / 3, (3 + 4 + 0) / 3]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)


def test_stride_2_even_kernel():
    # pre 8 -> post 4: stride 2, centre 2i; K=4 taps read centre-1 .. centre+2
    pre = np.arange(1.0, 9.0)  # pre[j] = j + 1
    w = np.array([1.0, 10.0, 100.0, 1000.0])
    out = convolution(pre, w, 4)
    expected = [
        0 + 10 * 1 + 100 * 2 + 1000 * 3,  # reads -1, 0, 1, 2
        2 + 10 * 3 + 100 * 4 + 1000 * 5,  # reads 1, 2, 3, 4
        4 + 10 * 5 + 100 * 6 + 1000 * 7,
        6 + 10 * 7 + 100 * 8 + 0,  # reads 5, 6, 7, 8
    ]
    assert out.tolist() == expected


def test_stride_3_centre():
    assert conv_centres(9, 3, kernel_shape=(3,))[:, 0].tolist() == [1, 4, 7]
    assert conv_centres(8, 4, kernel_shape=(3,))[:, 0].tolist() == [0, 2, 4, 6]


def test_conv_centres_100_to_50():
    centres = conv_centres((100, 100), (50, 50), kernel_shape=(3, 3))
    assert centres[np.ravel_multi_index((10, 10), (50, 50))].tolist() == [20, 20]
    assert centres[0].tolist() == [0, 0]
    assert centres[-1].tolist() == [98, 98]


def test_keep_last_dimension():
    pre = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])  # 3 positions, 2 channels
    w = np.array([1.0, 0.0, 2.0])  # post[i, c] = pre[i-1, c] + 2 pre[i+1, c]
    out = convolution(pre, w, (3, 2), keep_last_dimension=True)
    assert out.tolist() == [[0 + 2 * 2, 0 + 2 * 20], [1 + 2 * 3, 10 + 2 * 30], [2 + 0, 20 + 0]]


def test_spanned_last_axis_rgb():
    pre = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # 2 pixels, RGB
    out = convolution(pre, np.array([[2.0, -1.0, -1.0]]), 2)
    assert out.tolist() == [2 - 2 - 3, 8 - 5 - 6]


def test_bank_spanning_channels():
    pre = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])  # (H=3, C=2)
    w = np.array([[[1.0, 0.0]], [[1.0, -1.0]]])  # (F=2, k=1, C=2)
    out = convolution(pre, w, (3, 2), bank=True)
    assert out.tolist() == [[1.0, -9.0], [2.0, -18.0], [3.0, -27.0]]


def test_bank_cnn_layer_matches_explicit_loops():
    rng = np.random.default_rng(0)
    pre = rng.random((6, 4, 3))  # (H, W, C)
    w = rng.standard_normal((5, 3, 2, 3))  # (F, kh, kw, C): kh odd, kw even
    out = convolution(pre, w, (3, 2, 5), bank=True, padding=0.5)
    padded = np.pad(pre, ((1, 1), (0, 1), (0, 0)), constant_values=0.5)
    expected = np.zeros((3, 2, 5))
    for i in range(3):
        for j in range(2):
            ci, cj = 2 * i, 2 * j  # stride 2 on both axes: centre (2-1)//2 + 2i
            for f in range(5):
                # rows ci-1..ci+1, cols cj..cj+1 (even kernel reaches forward); +1 row of pad
                expected[i, j, f] = np.sum(w[f] * padded[ci : ci + 3, cj : cj + 2, :])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_bank_mean_divides_by_one_filter():
    w = np.stack([np.ones(3), 2 * np.ones(3)])  # (F=2, 3)
    out = convolution(
        np.array([3.0, 3.0, 3.0]), w, (3, 2), bank=True, operation="mean", padding="border"
    )
    assert out.tolist() == [[3.0, 6.0]] * 3


def test_explicit_subsampling():
    pre = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out = convolution(pre, np.ones(3), 2, subsampling=[[0], [4]])
    assert out.tolist() == [0 + 1 + 2, 4 + 5 + 0]


def test_subsampling_wrong_shape_rejected():
    with pytest.raises(ValueError):
        convolution(np.ones((4, 4)), np.ones((3, 3)), (2, 2), subsampling=[[0, 0]] * 3)


def test_non_multiple_geometry_rejected():
    with pytest.raises(ValueError, match="subsampling"):
        convolution(np.ones(10), np.ones(3), 3)


def test_float32_stays_float32():
    pre = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    out = convolution(pre, np.ones(3), 3, psp="w * exp(pre.r)")
    assert out.dtype == np.float32
    np.testing.assert_allclose(
        out,
        [np.exp(1) + np.exp(2) + 1, np.exp(1) + np.exp(2) + np.exp(3), np.exp(2) + np.exp(3) + 1],
        rtol=1e-6,
    )
    assert pooling(pre, 1, extent=[3], operation="mean").dtype == np.float32


def test_extra_pre_variable():
    out = convolution(
        np.array([1.0, 2.0]),
        np.array([1.0]),
        2,
        psp="w * pre.r * pre.g",
        pre_vars={"g": np.array([3.0, 4.0])},
    )
    assert out.tolist() == [3.0, 8.0]


# ---------------------------------------------------------------- pooling


def test_pooling_leftover_rows():
    pre = np.array([1.0, 4.0, 2.0, 3.0, 100.0])  # index 4 is not covered
    assert pooling(pre, 2, extent=[2]).tolist() == [4.0, 3.0]
    assert pooling(pre, 2, extent=[2], operation="mean").tolist() == [2.5, 2.5]
    assert pooling(pre, 2, extent=[2], operation="sum").tolist() == [5.0, 5.0]
    assert pooling(pre, 2, extent=[2], operation="min").tolist() == [1.0, 2.0]


def test_pooling_2d_default_extent_and_psp():
    pre = np.array([[1.0, -2.0, 3.0, -4.0], [-5.0, 6.0, -7.0, 8.0]])
    assert pooling(pre, (1, 2)).tolist() == [[6.0, 8.0]]
    assert pooling(pre, (1, 2), psp="-pre.r").tolist() == [[5.0, 7.0]]
    assert pooling(pre, (1, 2), operation="mean", psp="pos(pre.r)").tolist() == [[7 / 4, 11 / 4]]


def test_pooling_fewer_post_dims_covers_last_axis_whole():
    pre = np.arange(12.0).reshape(2, 2, 3)
    out = pooling(pre, (1,), extent=[2, 2, 3], operation="sum")
    assert out.tolist() == [sum(range(12))]
    with pytest.raises(ValueError):
        pooling(pre, (1,), extent=[2, 2, 2])
    with pytest.raises(ValueError):
        pooling(pre, (1, 1))


# ---------------------------------------------------------------- psp strings


def test_evaluate_psp_functions():
    x = np.array([-2.0, 0.5, 3.0])
    pre = {"r": x}
    assert evaluate_psp("pos(pre.r)", 1.0, pre).tolist() == [0.0, 0.5, 3.0]
    assert evaluate_psp("positive(pre.r)", 1.0, pre).tolist() == [0.0, 0.5, 3.0]
    assert evaluate_psp("neg(pre.r)", 1.0, pre).tolist() == [-2.0, 0.0, 0.0]
    assert evaluate_psp("negative(pre.r)", 1.0, pre).tolist() == [-2.0, 0.0, 0.0]
    assert evaluate_psp("clip(pre.r, 0, 1)", 1.0, pre).tolist() == [0.0, 0.5, 1.0]
    assert evaluate_psp("power(pre.r, 2) + w**2", 2.0, pre).tolist() == [8.0, 4.25, 13.0]
    assert evaluate_psp("-w * fabs(pre.r) / 2", 2.0, pre).tolist() == [-2.0, -0.5, -3.0]
    np.testing.assert_allclose(evaluate_psp("sqrt(abs(pre.r))", 1.0, pre), np.sqrt(np.abs(x)))


def test_evaluate_psp_has_no_builtins():
    with pytest.raises(NameError):
        evaluate_psp("__import__('os')", 1.0, {"r": np.zeros(1)})
    with pytest.raises(NameError):
        evaluate_psp("open('x')", 1.0, {"r": np.zeros(1)})
