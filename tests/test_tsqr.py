"""The R factor of a block (Cholesky QR twice, Householder QR where that would lose accuracy)
against Householder QR and least squares."""

import numpy as np
import pytest

from dl_workshop.objectives import moments as tsqr


def design(condition: float, n: int = 4096, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    x = u @ np.diag(np.logspace(0, -np.log10(condition), d)) @ v * 1e3
    y = x @ rng.normal(size=d) + 1e-3 * rng.normal(size=n)
    return x, y


@pytest.mark.parametrize("condition", [1e1, 1e3, 1e5, 1e7, 1e10])
def test_least_squares_from_the_block_r_is_as_accurate_as_from_householder_qr(condition):
    x, y = design(condition)
    block = np.column_stack([x, y])
    ours, householder = tsqr.block_r(block.copy()), np.linalg.qr(block, mode="r")
    assert np.allclose(np.tril(ours, -1), 0.0)
    np.testing.assert_allclose(ours.T @ ours, block.T @ block, rtol=1e-12, atol=1e-9)
    reference = np.linalg.lstsq(x, y, rcond=None)[0]
    scale = np.abs(reference).max()
    d = x.shape[1]
    error = np.abs(np.linalg.solve(ours[:d, :d], ours[:d, d]) - reference).max() / scale
    floor = np.abs(np.linalg.solve(householder[:d, :d], householder[:d, d]) - reference).max()
    # Within a few times Householder QR's own error (and never worse than eps x condition).
    assert error <= max(10 * floor / scale, 1e-14), (error, floor / scale)


def test_columns_on_very_different_scales_and_a_constant_column():
    rng = np.random.default_rng(1)
    block = rng.normal(size=(5000, 4)) * np.array([1e-8, 1.0, 1e8, 3.0])
    np.testing.assert_allclose(
        np.abs(tsqr.block_r(block.copy())), np.abs(np.linalg.qr(block, mode="r")), rtol=1e-10
    )
    block[:, 3] = 0.0  # a constant column after centring: the Cholesky factor is singular
    r = tsqr.block_r(block.copy())
    np.testing.assert_allclose(r.T @ r, block.T @ block, rtol=1e-12, atol=1e-20)


def test_short_blocks_are_factored_whole():
    block = np.random.default_rng(2).normal(size=(5, 3))
    r = tsqr.block_r(block)
    assert r.shape == (3, 3)
    np.testing.assert_allclose(r.T @ r, block.T @ block, rtol=1e-12)
