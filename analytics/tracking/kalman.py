"""Constant-velocity Kalman filter on the SORT/ByteTrack box state, batched over tracks.

State per track: ``(cx, cy, a, h, vcx, vcy, va, vh)``: box centre, aspect ratio ``a = w / h``,
height, and their velocities **per second** (not per frame): detection samples frames at
``detect_fps`` and a segment may be unevenly spaced, so every prediction uses the real time step.

The noise weights are ByteTrack's (tuned there per frame at 30 fps, 1/20 of the height for
positions, 1/160 for velocities) turned into rates per second: a random walk's variance grows
linearly with time, so ``dt`` seconds get ``dt / REFERENCE_DT`` frames' worth of process noise, and
velocities in px/frame become px/s by dividing by ``REFERENCE_DT``. Noise scales with the box
height, so near (large) and far (small) objects are tracked alike.

The filter is four independent (value, velocity) pairs: the motion moves each of cx, cy, a, h by
its own velocity only, the process noise, the measurement noise and the initial uncertainty are
diagonal, and a measurement observes the four values. So of a track's 8 x 8 covariance only 12
numbers are ever non-zero: per pair, the value's variance, its covariance with its velocity and the
velocity's variance. They are all that is kept, as ``(N, 3, 4)`` arrays (rows ``VALUE``, ``CROSS``,
``VELOCITY``; columns cx, cy, a, h): a step is a dozen elementwise operations over the tracks
instead of batched 8 x 8 products and solves (bench/tracking_cost.py), and a saved state holds 12
numbers per track instead of the 36 of a full covariance's upper triangle (ByteTracker.state).
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

POSITION_WEIGHT = 1.0 / 20  # ByteTrack: std of a position (and of h) is h / 20 per frame
VELOCITY_WEIGHT = 1.0 / 160  # ByteTrack: std of a velocity is h / 160 px/frame per frame
REFERENCE_DT = 1.0 / 30  # the frame interval ByteTrack's weights were tuned at (MOT17, 30 fps)
MEASUREMENT_ASPECT_STD = 1e-1  # ByteTrack's measurement std of the aspect ratio
PROCESS_ASPECT_STD = 1e-2  # ByteTrack's per-frame process std of the aspect ratio
PROCESS_ASPECT_VELOCITY_STD = 1e-5  # ... and of its velocity (aspect ratios barely move)
MIN_SIZE = 1e-3  # px: boxes degenerate (clipped at the frame edge) are kept out of a division by 0

VALUE, CROSS, VELOCITY = 0, 1, 2  # rows of a (N, 3, 4) covariance

# Upper triangle of an 8 x 8 covariance: how version 1 of a saved tracker state stored it.
TRIU = np.triu_indices(8)


def xyxy_to_xyah(boxes: npt.NDArray[np.floating]) -> Array:
    """(N, 4) x1, y1, x2, y2 -> (N, 4) cx, cy, a, h."""
    b = np.asarray(boxes, np.float64)
    w = np.maximum(b[:, 2] - b[:, 0], MIN_SIZE)
    h = np.maximum(b[:, 3] - b[:, 1], MIN_SIZE)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, w / h, h], axis=1)


def xyah_to_xyxy(xyah: Array) -> Array:
    """(N, >=4) cx, cy, a, h, ... -> (N, 4) x1, y1, x2, y2 (sizes kept positive)."""
    h = np.maximum(xyah[:, 3], MIN_SIZE)
    w = np.maximum(xyah[:, 2], MIN_SIZE) * h
    cx, cy = xyah[:, 0], xyah[:, 1]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


SIZED = np.array([1.0, 1.0, 0.0, 1.0])  # cx, cy and h scale with the box height; the aspect ratio does not
UNSIZED = 1.0 - SIZED


def _per_component(size: Array, aspect: float) -> Array:
    """(N,) std of a size-scaled quantity -> (N, 4) for cx, cy, a, h (the aspect's is fixed)."""
    stds: Array = size[:, None] * SIZED + aspect * UNSIZED
    return stds


def initiate(measurements: Array) -> tuple[Array, Array]:
    """New tracks from (N, 4) xyah measurements: zero velocity, ByteTrack's initial uncertainty."""
    n = measurements.shape[0]
    mean = np.concatenate([measurements, np.zeros((n, 4))], axis=1)
    h = measurements[:, 3]
    cov = np.zeros((n, 3, 4))
    cov[:, VALUE] = _per_component(2 * POSITION_WEIGHT * h, PROCESS_ASPECT_STD) ** 2
    cov[:, VELOCITY] = _per_component(10 * VELOCITY_WEIGHT * h / REFERENCE_DT, PROCESS_ASPECT_VELOCITY_STD / REFERENCE_DT) ** 2
    return mean, cov


def predict(mean: Array, cov: Array, dt: float) -> tuple[Array, Array]:
    """Move every track ``dt`` seconds on: x += v dt, P = F P F' + Q(dt), Q scaled by the height.

    Per pair, with F = [[1, dt], [0, 1]]: value variance p + 2 dt c + dt^2 v, covariance c + dt v,
    velocity variance v; plus ``dt / REFERENCE_DT`` frames' worth of process noise.
    """
    if mean.shape[0] == 0 or dt <= 0:
        return mean.copy(), cov.copy()
    frames = dt / REFERENCE_DT  # how many reference frames' worth of noise
    h = mean[:, 3]
    value_noise = _per_component(POSITION_WEIGHT * h, PROCESS_ASPECT_STD) ** 2 * frames
    velocity_noise = _per_component(VELOCITY_WEIGHT * h / REFERENCE_DT, PROCESS_ASPECT_VELOCITY_STD / REFERENCE_DT) ** 2 * frames
    new_mean = mean.copy()
    new_mean[:, :4] += dt * mean[:, 4:]
    p, c, v = cov[:, VALUE], cov[:, CROSS], cov[:, VELOCITY]
    new_cov = np.empty_like(cov)
    new_cov[:, VALUE] = p + dt * (2 * c + dt * v) + value_noise
    new_cov[:, CROSS] = c + dt * v
    new_cov[:, VELOCITY] = v + velocity_noise
    return new_mean, new_cov


def update(mean: Array, cov: Array, measurements: Array) -> tuple[Array, Array]:
    """Correct (N,) tracks with their (N, 4) xyah measurements.

    Per pair: innovation variance s = p + r, gains p / s (value) and c / s (velocity), and
    P - K s K': value variance p - p^2 / s, covariance c - p c / s, velocity variance v - c^2 / s.
    """
    if mean.shape[0] == 0:
        return mean.copy(), cov.copy()
    p, c, v = cov[:, VALUE], cov[:, CROSS], cov[:, VELOCITY]
    innovation_var = p + _per_component(POSITION_WEIGHT * mean[:, 3], MEASUREMENT_ASPECT_STD) ** 2  # s = H P H' + R
    value_gain, velocity_gain = p / innovation_var, c / innovation_var
    innovation = measurements - mean[:, :4]
    new_mean = np.concatenate([mean[:, :4] + value_gain * innovation, mean[:, 4:] + velocity_gain * innovation], axis=1)
    new_cov = np.empty_like(cov)
    new_cov[:, VALUE] = p - value_gain * p
    new_cov[:, CROSS] = c - value_gain * c
    new_cov[:, VELOCITY] = v - velocity_gain * c
    return new_mean, new_cov


def unpack_full_covariances(packed: list[list[float]]) -> Array:
    """Version 1 of a saved state: N upper triangles of 8 x 8 (36 floats) -> (N, 3, 4)."""
    values = np.asarray(packed, np.float64).reshape(len(packed), len(TRIU[0]))
    full = np.zeros((len(packed), 8, 8))
    full[:, TRIU[0], TRIU[1]] = values
    i = np.arange(4)
    return np.stack([full[:, i, i], full[:, i, i + 4], full[:, i + 4, i + 4]], axis=1)
