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


# Below this many pairs one full matrix (then masked) beats a Python loop over the classes.
SPLIT_BY_CLASS_ABOVE = 64 * 64


def iou_by_class(
    a: npt.NDArray[np.floating], a_cls: npt.NDArray[np.integer], b: npt.NDArray[np.floating], b_cls: npt.NDArray[np.integer]
) -> npt.NDArray[np.float64]:
    """Like ``iou_matrix``, but 0 between boxes of different classes. Large frames are computed
    class by class: with k classes that is about k times less arithmetic than the full matrix."""
    if a.shape[0] * b.shape[0] <= SPLIT_BY_CLASS_ABOVE:
        return np.where(a_cls[:, None] == b_cls[None, :], iou_matrix(a, b), 0.0)
    out = np.zeros((a.shape[0], b.shape[0]))
    for cls in np.intersect1d(a_cls, b_cls):
        rows, cols = np.flatnonzero(a_cls == cls), np.flatnonzero(b_cls == cls)
        out[np.ix_(rows, cols)] = iou_matrix(a[rows], b[cols])
    return out


def assign(iou: npt.NDArray[np.float64], allowed: npt.NDArray[np.bool_]) -> tuple[Indices, Indices]:
    """Pairs (rows, cols) of one-to-one matching that maximises total IoU over allowed pairs only.

    Rows and columns with no allowed pair never reach the solver: most tracks and detections of a
    busy frame either have one obvious partner or none, so the matrix it solves stays small.
    """
    rows = np.flatnonzero(allowed.any(axis=1))
    cols = np.flatnonzero(allowed.any(axis=0))
    if rows.size == 0:
        empty = np.zeros(0, np.intp)
        return empty, empty
    sub_allowed = allowed[np.ix_(rows, cols)]
    cost = np.where(sub_allowed, 1.0 - iou[np.ix_(rows, cols)], FORBIDDEN)
    r, c = linear_sum_assignment(cost)
    keep = sub_allowed[r, c]
    return rows[r[keep]].astype(np.intp), cols[c[keep]].astype(np.intp)
