"""Double-double arithmetic in NumPy: sums and products of float64 arrays to about 32 digits.

Error-free transformations (Dekker 1971, Knuth; Ogita, Rump and Oishi 2005): a float64 sum or
product ``a ∘ b`` is split into its rounded value ``s`` and the exact rounding error ``e``
(``s + e == a ∘ b`` exactly, both float64). A pair ``(hi, lo)`` carries a value to about
``eps²`` (1e-32) relative. Only float64 additions and multiplications with round-to-nearest are
used, as IEEE 754 specifies them on every platform, so the results do not depend on the machine
(unlike ``numpy.longdouble``, which is 80-bit extended on x86-64 Linux, 128-bit in software on a
few others, and plain float64 on Windows and Apple silicon).

:func:`residual_products` is what :mod:`~dl_workshop.estimator.refine` needs: the residuals of a
linear model and their products with the design, ``Xᵀ diag(w) (y − X c − b)``, whose terms
cancel almost exactly near a least-squares solution.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Dekker's splitting constant ``2^27 + 1``: ``a = hi + lo`` with 26-bit halves for float64.
_SPLITTER = 134217729.0


def two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(s, e)`` with ``s = fl(a + b)`` and ``s + e = a + b`` exactly (Knuth's TwoSum).

    Example:
        >>> s, e = two_sum(np.float64(1.0), np.float64(1e-17))
        >>> float(s), float(e)
        (1.0, 1e-17)
    """
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(hi, lo)`` with ``hi + lo = a`` exactly and 26 significant bits each (Veltkamp).

    Valid for ``|a| < 2^996`` (about 1e300); larger values overflow to ``inf``/``nan``.

    Example:
        >>> hi, lo = split(np.float64(0.1))
        >>> bool(hi + lo == 0.1), bool(hi != 0.1)
        (True, True)
    """
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def two_product(a: np.ndarray, b: np.ndarray, a_parts=None, b_parts=None):
    """``(p, e)`` with ``p = fl(a · b)`` and ``p + e = a · b`` exactly (Dekker's TwoProduct).

    Exact unless the product underflows. ``a_parts`` and ``b_parts`` are :func:`split` of the
    factors when already known (a design reused at every step).

    Example:
        >>> p, e = two_product(np.float64(0.1), np.float64(0.1))
        >>> from fractions import Fraction
        >>> Fraction(float(p)) + Fraction(float(e)) == Fraction(0.1) ** 2
        True
    """
    ah, al = split(a) if a_parts is None else a_parts
    bh, bl = split(b) if b_parts is None else b_parts
    p = a * b
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


#: The exponent bits of a float64: ``bits & _EXPONENT`` is ``2^⌊log2 |v|⌋`` (0 for 0).
_EXPONENT = np.int64(0x7FF0000000000000)


def _extract(p: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ q, p − q)`` along ``axis``: ``q`` the leading parts of ``p`` on the grid of
    ``σ = 2^⌈log2(m + 2)⌉ · 2^⌈log2 max|p|⌉`` (Rump, Ogita and Oishi's ExtractVector), whose
    float64 sum is exact; the remainders are at most ``eps · σ``."""
    # np.add.reduce and np.maximum.reduce: np.sum's and np.max's work without their wrappers
    # (a few microseconds each, which count on small data); the power of two from the
    # exponent bits, not frexp and ldexp (two more passes).
    top = np.maximum.reduce(np.abs(p), axis=axis, keepdims=True)
    power = np.bitwise_and(top.view(np.int64), _EXPONENT).view(np.float64)  # <= top < 2 power
    sigma = power * float(2 ** (1 + (p.shape[axis] + 1).bit_length()))  # 2^k >= m + 2
    q = (sigma + p) - sigma
    return np.add.reduce(q, axis=axis), p - q


def dd_sum(hi: np.ndarray, lo: np.ndarray, axis: int = 0,
           passes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The double-double sum of the pairs ``hi + lo`` along ``axis``: the leading parts of
    ``hi`` summed exactly (:func:`_extract`, ``passes`` times), the rest and ``lo`` in float64.

    With one pass the result carries an error of about ``m² eps² max|terms|`` for ``m`` terms,
    however much they cancel (enough for the few terms of one residual); with two, about
    ``eps`` of the sum plus ``m² eps³ max|terms|``. ``lo`` may have fewer terms than ``hi``
    (terms whose low parts are zero, last).

    Example:
        >>> terms = np.array([1e16, 1.0, -1e16, 1.0])  # float64 sums lose a 1 or both
        >>> [float(v) for v in dd_sum(terms, np.zeros(4))]
        [2.0, 0.0]
    """
    exact, rest = _extract(hi, axis)
    if passes > 1:
        second, rest = _extract(rest, axis)
        exact, error = two_sum(exact, second)
        return two_sum(exact, error + np.add.reduce(rest, axis=axis)
                       + np.add.reduce(lo, axis=axis))
    return two_sum(exact, np.add.reduce(rest, axis=axis) + np.add.reduce(lo, axis=axis))


def powers(x: np.ndarray, degree: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hi, lo)``, shape ``(n, degree)``: the powers ``x^1 … x^degree`` of ``x`` (shape
    ``(n,)``) in double-double, by repeated :func:`two_product` (relative error about
    ``k eps²`` for ``x^k``); ``hi`` is ``x^k`` rounded to float64 (to within its last bit).

    Example:
        >>> hi, lo = powers(np.array([0.1]), 3)
        >>> from fractions import Fraction
        >>> exact = Fraction(0.1) ** 3
        >>> abs(Fraction(float(hi[0, 2])) + Fraction(float(lo[0, 2])) - exact) < exact * 1e-30
        True
    """
    hi, lo = [x], [np.zeros_like(x)]
    for _ in range(1, degree):
        p, e = two_product(hi[-1], x)
        p, e = two_sum(p, e + lo[-1] * x)
        hi.append(p)
        lo.append(e)
    return np.stack(hi, axis=1), np.stack(lo, axis=1)


class Design(NamedTuple):
    """A design prepared once for :func:`residual_products` (:func:`design`): its columns as
    rows (``(d + 1, n)``, the intercept's column ``ones`` last), so that every product and sum
    runs along contiguous rows of data."""

    x: np.ndarray  # (d + 1, n): [x, ones]ᵀ
    parts: tuple[np.ndarray, np.ndarray]  # split(x), shape (d + 1, 1, n)
    centred: tuple[np.ndarray, np.ndarray]  # [x (+ x_lo) - ones offsetᵀ, ones]ᵀ, as (hi, lo)
    centred_parts: tuple[np.ndarray, np.ndarray]  # split of its hi
    lo: np.ndarray | None = None  # (d + 1, n): the design's low parts, if double-double


def design(x: np.ndarray, offset: np.ndarray, ones: np.ndarray,
           x_lo: np.ndarray | None = None) -> Design:
    """``x`` (shape ``(n, d)``) with its splits, and ``x − ones offsetᵀ`` exactly, as
    double-double columns: what every refinement step reuses (``ones``, shape ``(n,)``, the
    intercept's column: rows of zeros there are already centred). ``x_lo``, shape ``(n, d)``,
    makes the design the double-double ``x + x_lo`` (the exact powers of :func:`powers`).

    Example:
        >>> prepared = design(np.array([[1.0]]), np.array([1e-20]), np.ones(1))
        >>> [float(part[0, 0]) for part in prepared.centred]
        [1.0, -1e-20]
    """
    # Rows contiguous (a transpose's vstack keeps its column order): the kernels run along them.
    xt = np.ascontiguousarray(np.vstack([x.T, ones[None, :]]))
    hi, lo = two_sum(xt[:-1], -(offset[:, None] * ones[None, :]))
    if x_lo is not None:
        hi, lo = two_sum(hi, lo + x_lo.T)
        x_lo = np.ascontiguousarray(np.vstack([x_lo.T, np.zeros((1, len(ones)))]))
    hi = np.ascontiguousarray(np.vstack([hi, ones[None, :]]))
    lo = np.ascontiguousarray(np.vstack([lo, np.zeros((1, len(ones)))]))
    return Design(xt, split(xt[:, None, :]), (hi, lo), split(hi), x_lo)


def residual_products(
    prepared: Design, y: np.ndarray, weights: np.ndarray, ones: np.ndarray, coef: np.ndarray,
    intercept: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``((X − ones oᵀ)ᵀ w r, onesᵀ w r)`` rounded to float64, with ``r = y − X coef − ones
    interceptᵀ`` and ``o`` the design's offset, every product and sum in double-double (``X``
    too, where the design has low parts).

    The products are with the design centred at ``o`` (:func:`design`), not with ``X``: near
    the solution ``Xᵀ w r`` is about ``o`` times ``Σ w r`` (both nearly zero), and subtracting
    the two after rounding would leave a relative error of ``eps`` times their ratio.

    Args:
        prepared: the design ``X``, shape ``(n, d)``, prepared by :func:`design` (with the
            same ``ones``).
        y: targets, shape ``(n, k)``.
        weights: row weights, shape ``(n,)``.
        ones: the intercept's column, shape ``(n,)``, of zeros and ones.
        coef: shape ``(d, k)``.
        intercept: shape ``(k,)``.

    Returns:
        ``(g_coef (d, k), g_intercept (k,))``, each the float64 nearest (to about ``eps``) to
        its exact value.

    Example:
        >>> x = np.array([[1e8], [1e8 + 1]])
        >>> y = np.array([[1.0], [2.0]])  # y = x - 1e8 + 1: the residual is zero
        >>> g, g0 = residual_products(design(x, np.zeros(1), np.ones(2)), y, np.ones(2), np.ones(2),
        ...                           np.ones((1, 1)), np.array([1.0 - 1e8]))
        >>> g.tolist(), g0.tolist()
        ([[0.0]], [0.0])
    """
    del ones  # the design's last row
    # −r = Σ_j x_ij c_jk + ones_i b_k − y_ik: the products exactly, their sum in dd, with the
    # terms along the first axis: (d + 2, k, n).
    beta = np.concatenate([coef, intercept[None, :]])[:, :, None]  # (d + 1, k, 1)
    p, e = two_product(prepared.x[:, None, :], beta, prepared.parts)
    if prepared.lo is not None:
        e = e + prepared.lo[:, None, :] * beta
    r_hi, r_lo = dd_sum(np.concatenate([p, -y.T[None]]), e, axis=0, passes=1)
    r_hi, r_lo = -r_hi, -r_lo  # (k, n)
    if (weights != 1.0).any():
        r_hi, err = two_product(weights, r_hi)
        r_lo = err + weights * r_lo
    # Σ_i c_ji r_ik, the terms along the last axis: (k, d + 1, n); the low parts' products
    # (a float64 sum is enough for them) as matrix products.
    c_hi, c_lo = prepared.centred
    p, e = two_product(c_hi, r_hi[:, None, :], prepared.centred_parts)
    g_hi, g_lo = dd_sum(p, e, axis=2)
    g = g_hi.T + (g_lo.T + (c_hi @ r_lo.T + c_lo @ r_hi.T))  # (d + 1, k)
    return g[:-1], g[-1]
