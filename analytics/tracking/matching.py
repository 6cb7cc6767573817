"""IoU between box sets and gated one-to-one assignment (scipy's Hungarian-family solver)."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

Indices = npt.NDArray[np.intp]

# Cost of a pair the gate forbids. Every solution pairs min(rows, cols) entries, so with this cost
# the solver first maximises the number of allowed pairs, then minimises their summed 1 - IoU; the
# forbidden pairs it still had to make are dropped afterwards.
FORBIDDEN = 1e6


def iou_matrix(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """(N, 4) x (M, 4) x1, y1, x2, y2 boxes -> (N, M) intersection over union, in one broadcast."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    w = np.maximum(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0.0)
    h = np.maximum(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0.0)
    inter = w * h
    area_a = np.maximum(a[:, 2] - a[:, 0], 0.0) * np.maximum(a[:, 3] - a[:, 1], 0.0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


# Pairs up to which overlapping_pairs computes the whole IoU matrix: measured on this machine, the
# sorted sweep costs ~50 us whatever the size and the matrix ~30 us at 10 x 10, ~70 us at 64 x 64.
DENSE_UP_TO = 48 * 48


def _pair_iou(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """IoU of (K, 4) boxes a[k] and b[k]: ``iou_matrix``'s arithmetic, pair by pair (the same values)."""
    w = np.maximum(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0)
    h = np.maximum(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0)
    inter = w * h
    area_a = np.maximum(a[:, 2] - a[:, 0], 0.0) * np.maximum(a[:, 3] - a[:, 1], 0.0)
    area_b = np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def overlapping_pairs(
    a: npt.NDArray[np.floating], a_cls: npt.NDArray[np.integer], b: npt.NDArray[np.floating], b_cls: npt.NDArray[np.integer],
    min_iou: float,
) -> tuple[Indices, Indices, npt.NDArray[np.float64]]:
    """(rows, cols, IoU) of every pair of a box of ``a`` and a box of ``b`` of the same class that
    overlap by at least ``min_iou`` (> 0), without computing the whole (N, M) IoU matrix.

    The association stages may match only these pairs (ByteTracker.step). Boxes must be finite.
    A 200-object frame has 40,000 pairs of which only ~200 overlap, so:

    Up to ``DENSE_UP_TO`` pairs, the whole matrix is cheaper (fewer numpy calls), and gives the
    same pairs. Above:

    1. ``b`` is sorted by x1: a box of ``b`` can overlap a box of ``a`` only if it starts before
       ``a`` ends (x1 <= a.x2) and no further left than ``a``'s x1 less the widest box of ``b``
       (1 px of slack for rounding): a range of the sorted boxes per row, by binary search;
    2. the pairs of those ranges (about one in ten of all pairs at 200 objects on 1920 px), of the
       same class, get their IoU with ``iou_matrix``'s arithmetic (so the same values), and those
       below ``min_iou`` are dropped.
    """
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    empty = np.zeros(0, np.intp)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return empty, empty, np.zeros(0)
    if a.shape[0] * b.shape[0] <= DENSE_UP_TO:
        matrix = np.where(np.asarray(a_cls)[:, None] == np.asarray(b_cls)[None, :], iou_matrix(a, b), 0.0)
        r, c = np.nonzero(matrix >= min_iou)
        return r.astype(np.intp), c.astype(np.intp), matrix[r, c]
    order = np.argsort(b[:, 0], kind="stable")
    starts = b[order, 0]
    widest = max(float(np.max(b[:, 2] - b[:, 0])), 0.0)
    lo = np.searchsorted(starts, a[:, 0] - widest - 1.0, side="left")
    hi = np.searchsorted(starts, a[:, 2], side="right")
    counts = np.maximum(hi - lo, 0)
    rows = np.repeat(np.arange(a.shape[0], dtype=np.intp), counts)
    first = np.cumsum(counts) - counts  # where each row's range begins among the pairs
    cols = order[np.arange(rows.size) - np.repeat(first - lo, counts)].astype(np.intp)
    same = np.asarray(a_cls)[rows] == np.asarray(b_cls)[cols]
    rows, cols = rows[same], cols[same]
    iou = _pair_iou(a[rows], b[cols])
    near = iou >= min_iou
    return rows[near], cols[near], iou[near]


def assign(rows: Indices, cols: Indices, iou: npt.NDArray[np.float64]) -> tuple[Indices, Indices]:
    """One-to-one matching of candidate pairs (``rows[k]``, ``cols[k]``, overlapping by ``iou[k]``)
    that maximises first the number of pairs, then their total IoU.

    1. A pair whose row and column have no other candidate is in every such matching: taken as is.
       In a busy frame most objects have one obvious partner or none, so this settles most of it.
    2. The rest goes to the solver as a dense matrix of its own rows and columns, at ``FORBIDDEN``
       where no candidate pair is; the forbidden pairs it still had to make are dropped.
    """
    if rows.size == 0:
        return rows, cols
    alone = (np.bincount(rows)[rows] == 1) & (np.bincount(cols)[cols] == 1)
    if alone.all():
        return rows, cols
    rest = ~alone
    row_ids, r_of = np.unique(rows[rest], return_inverse=True)
    col_ids, c_of = np.unique(cols[rest], return_inverse=True)
    cost = np.full((row_ids.size, col_ids.size), FORBIDDEN)
    cost[r_of, c_of] = 1.0 - iou[rest]
    r, c = linear_sum_assignment(cost)
    keep = cost[r, c] < FORBIDDEN
    return np.concatenate([rows[alone], row_ids[r[keep]]]), np.concatenate([cols[alone], col_ids[c[keep]]])
