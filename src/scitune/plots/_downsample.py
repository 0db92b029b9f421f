"""Curve downsampling for drawing: fewer points, same shape (MinMax-LTTB, via tsdownsample).

Largest-Triangle-Three-Buckets keeps the points that carry the visual shape of a line; the
MinMax preselection (Van Der Donckt et al., 2023) makes it fast. On top of what LTTB picks, the
points a reader looks for are always kept: both ends, the minimum, the maximum, and the first
non-finite value (where a run diverged).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["downsample", "downsample_indices"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def downsample_indices(x: npt.ArrayLike, y: npt.ArrayLike, n_out: int) -> IntArray:
    """Sorted indices of at most about ``n_out`` (+4 kept extremes) points of the line ``(x, y)``.

    ``x`` must ascend. Non-finite values in ``y`` are allowed (they are gaps when drawn).

    Example:
        >>> import numpy as np
        >>> y = np.sin(np.linspace(0, 20, 1000))
        >>> idx = downsample_indices(np.arange(1000), y, 50)
        >>> int(idx[0]), int(idx[-1]), len(idx) <= 54
        (0, 999, True)
    """
    xs = np.ascontiguousarray(x)
    ys = np.ascontiguousarray(y, dtype=np.float64)
    n = int(ys.shape[0])
    if n_out < 3:
        raise ValueError(f"n_out must be >= 3, got {n_out}.")
    if n <= n_out:
        return np.arange(n, dtype=np.int64)
    finite = np.isfinite(ys)
    if not finite.any():
        return np.unique(np.linspace(0, n - 1, n_out).round().astype(np.int64))
    masked = np.where(finite, ys, np.nan)
    keep = [0, n - 1, int(np.nanargmin(masked)), int(np.nanargmax(masked))]
    if not finite.all():
        keep.append(int(np.argmin(finite)))
    picked = _lttb(xs, masked, n_out)
    return np.unique(np.concatenate([picked, np.asarray(keep, dtype=np.int64)]))


def downsample(
    x: npt.ArrayLike, y: npt.ArrayLike, n_out: int
) -> tuple[npt.NDArray[np.generic], FloatArray]:
    """``(x, y)`` reduced to the points :func:`downsample_indices` keeps."""
    xs = np.asarray(x)
    ys = np.asarray(y, dtype=np.float64)
    idx = downsample_indices(xs, ys, n_out)
    return xs[idx], ys[idx]


def _lttb(x: npt.NDArray[np.generic], y: FloatArray, n_out: int) -> IntArray:
    from tsdownsample import MinMaxLTTBDownsampler, NaNMinMaxLTTBDownsampler

    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.bool_):
        x = np.arange(len(y))
    # tsdownsample's constructors carry no annotations.
    sampler = (
        NaNMinMaxLTTBDownsampler()  # type: ignore[no-untyped-call]
        if np.isnan(y).any()
        else MinMaxLTTBDownsampler()  # type: ignore[no-untyped-call]
    )
    return np.asarray(sampler.downsample(x, y, n_out=n_out), dtype=np.int64)
