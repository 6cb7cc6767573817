"""Constant-velocity Kalman filter on the SORT/ByteTrack box state, batched over tracks.

State per track: ``(cx, cy, a, h, vcx, vcy, va, vh)``: box centre, aspect ratio ``a = w / h``,
height, and their velocities **per second** (not per frame): detection samples frames at
``detect_fps`` and a segment may be unevenly spaced, so every prediction uses the real time step.

The noise weights are ByteTrack's (tuned there per frame at 30 fps, 1/20 of the height for
positions, 1/160 for velocities) turned into rates per second: a random walk's variance grows
linearly with time, so ``dt`` seconds get ``dt / REFERENCE_DT`` frames' worth of process noise, and
velocities in px/frame become px/s by dividing by ``REFERENCE_DT``. Noise scales with the box
height, so near (large) and far (small) objects are tracked alike.

Covariances are kept exactly symmetric (averaged with their transpose after every step), so a
saved upper triangle restores them bit for bit (used by ByteTracker.state/restore).
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

# Upper triangle of an 8 x 8 covariance: 36 numbers instead of 64 in a saved state.
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


def _diag(std: Array) -> Array:
    """(N, k) standard deviations -> (N, k, k) diagonal covariances."""
    out = np.zeros(std.shape + (std.shape[1],))
    idx = np.arange(std.shape[1])
    out[:, idx, idx] = std**2
    return out


def _symmetric(cov: Array) -> Array:
    return (cov + cov.transpose(0, 2, 1)) / 2


def initiate(measurements: Array) -> tuple[Array, Array]:
    """New tracks from (N, 4) xyah measurements: zero velocity, ByteTrack's initial uncertainty."""
    n = measurements.shape[0]
    mean = np.concatenate([measurements, np.zeros((n, 4))], axis=1)
    h = measurements[:, 3]
    pos, vel = 2 * POSITION_WEIGHT * h, 10 * VELOCITY_WEIGHT * h / REFERENCE_DT
    aspect = np.full(n, PROCESS_ASPECT_STD)
    aspect_vel = np.full(n, PROCESS_ASPECT_VELOCITY_STD / REFERENCE_DT)
    std = np.stack([pos, pos, aspect, pos, vel, vel, aspect_vel, vel], axis=1)
    return mean, _diag(std)


def predict(mean: Array, cov: Array, dt: float) -> tuple[Array, Array]:
    """Move every track ``dt`` seconds on: x += v dt, P = F P F' + Q(dt), Q scaled by the height."""
    if mean.shape[0] == 0 or dt <= 0:
        return mean.copy(), cov.copy()
    motion = np.eye(8)
    motion[:4, 4:] = dt * np.eye(4)
    frames = dt / REFERENCE_DT  # how many reference frames' worth of noise
    h = mean[:, 3]
    n = mean.shape[0]
    pos = POSITION_WEIGHT * h
    vel = VELOCITY_WEIGHT * h / REFERENCE_DT
    aspect = np.full(n, PROCESS_ASPECT_STD)
    aspect_vel = np.full(n, PROCESS_ASPECT_VELOCITY_STD / REFERENCE_DT)
    std = np.stack([pos, pos, aspect, pos, vel, vel, aspect_vel, vel], axis=1) * np.sqrt(frames)
    new_mean = mean @ motion.T
    new_cov = motion @ cov @ motion.T + _diag(std)
    return new_mean, _symmetric(new_cov)


def update(mean: Array, cov: Array, measurements: Array) -> tuple[Array, Array]:
    """Correct (N,) tracks with their (N, 4) xyah measurements (H picks the first 4 components)."""
    if mean.shape[0] == 0:
        return mean.copy(), cov.copy()
    h = mean[:, 3]
    pos = POSITION_WEIGHT * h
    std = np.stack([pos, pos, np.full_like(pos, MEASUREMENT_ASPECT_STD), pos], axis=1)
    innovation_cov = cov[:, :4, :4] + _diag(std)  # S = H P H' + R
    # K = P H' S^-1, i.e. K' = S^-1 (H P) since S and P are symmetric: one batched solve.
    gain = np.linalg.solve(innovation_cov, cov[:, :4, :]).transpose(0, 2, 1)  # (N, 8, 4)
    innovation = measurements - mean[:, :4]
    new_mean = mean + np.einsum("nij,nj->ni", gain, innovation)
    new_cov = cov - gain @ innovation_cov @ gain.transpose(0, 2, 1)
    return new_mean, _symmetric(new_cov)


def pack_covariances(cov: Array) -> list[list[float]]:
    """(N, 8, 8) symmetric -> N lists of 36 floats (the upper triangle)."""
    packed: list[list[float]] = cov[:, TRIU[0], TRIU[1]].tolist()
    return packed


def unpack_covariances(packed: list[list[float]]) -> Array:
    values = np.asarray(packed, np.float64).reshape(len(packed), len(TRIU[0]))
    cov = np.zeros((len(packed), 8, 8))
    cov[:, TRIU[0], TRIU[1]] = values
    cov[:, TRIU[1], TRIU[0]] = values
    return cov
