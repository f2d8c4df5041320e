"""The one moments type: weighted means and R factors of centred rows, from any source, combined
exactly.

- :mod:`~dl_workshop.moments.core`: :class:`Moments`, :func:`moments_of` (NumPy blocks, a
  ``jax.Array`` one device's rows at a time, Dask partitions reduced on the workers by a tree)
  and :func:`combine_moments`, the one combine;
- :mod:`~dl_workshop.moments.device`: the fast path's one pass (``exact=False``): host sums,
  float32 products, and the sums on each device's rows.
"""
