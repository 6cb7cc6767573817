"""ByteTrack-style multi-object tracker over one camera's detections (DESIGN §5: state saved per segment).

ByteTrack (Zhang et al., 2022) keeps low-score detections instead of discarding them: a person
half hidden behind a table scores 0.2 but still continues its track. Tracks live in numpy arrays
(one row per track) so a frame costs a handful of vectorised operations whatever the object count.
"""
from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analytics.detectors.base import Detections
from analytics.tracking import kalman
from analytics.tracking.matching import assign, overlapping_pairs

# 2: covariances as 12 numbers per track (kalman.py), Kalman means and covariances as the base64 of
# their float64 bytes; 1 (lists of floats, 36 per covariance) is still read.
STATE_VERSION = 2


def _pack(values: npt.NDArray[np.float64]) -> str:
    """Float64s as base64 of their little-endian bytes: exact (a restored tracker continues as if
    never stopped), 11 characters a number instead of ~18, and ~30 times faster to write and read
    as JSON than lists of floats (bench/analysis_cost.py: 200 tracks' state from 5.8 ms a segment)."""
    return base64.b64encode(np.ascontiguousarray(values, "<f8").tobytes()).decode("ascii")


def _unpack(text: str, shape: tuple[int, ...]) -> npt.NDArray[np.float64]:
    return np.frombuffer(base64.b64decode(text, validate=True), "<f8").astype(np.float64).reshape(shape)


@dataclass(frozen=True)
class Track:
    """One track as seen in the frame just fed; consumed by the rules (zones, dwell, lines)."""

    id: int  # unique per tracker, increasing, never reused (also across state/restore and reset)
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 frame px: the matched detection's box
    score: float  # the matched detection's score
    cls: int  # class id; association is within a class, so a track never changes class
    confirmed: bool  # hits >= confirm_hits
    hits: int  # frames in which it was matched
    first_seen: float  # time (s) of its first detection
    last_seen: float  # time (s) of its latest match


@dataclass(frozen=True, eq=False)
class Tracks:
    """The tracks of one frame as columns, one row per track, ordered by id (``ByteTracker.step``).

    What CameraAnalyzer hands its rules: a frame of 200 objects costs a few array slices instead
    of 200 ``Track`` objects, and a rule makes a ``Track`` only for the rows it raises an event on.
    Boxes and scores are float64 copies of the detections' float32 values, so ``track(i)`` equals
    what ``ByteTracker.update`` returns.
    """

    ids: npt.NDArray[np.int64]
    boxes: npt.NDArray[np.float64]  # (N, 4) x1, y1, x2, y2
    scores: npt.NDArray[np.float64]
    classes: npt.NDArray[np.int64]
    confirmed: npt.NDArray[np.bool_]
    hits: npt.NDArray[np.int64]
    first_seen: npt.NDArray[np.float64]
    last_seen: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @classmethod
    def of(cls, tracks: Sequence[Track]) -> Tracks:
        """Columns of Track objects (rules fed a list of tracks, as tests do)."""
        return cls(
            ids=np.asarray([tr.id for tr in tracks], np.int64),
            boxes=np.asarray([tr.box for tr in tracks], np.float64).reshape(-1, 4),
            scores=np.asarray([tr.score for tr in tracks], np.float64),
            classes=np.asarray([tr.cls for tr in tracks], np.int64),
            confirmed=np.asarray([tr.confirmed for tr in tracks], np.bool_),
            hits=np.asarray([tr.hits for tr in tracks], np.int64),
            first_seen=np.asarray([tr.first_seen for tr in tracks], np.float64),
            last_seen=np.asarray([tr.last_seen for tr in tracks], np.float64),
        )

    def track(self, row: int) -> Track:
        b = self.boxes[row].tolist()
        return Track(id=int(self.ids[row]), box=(b[0], b[1], b[2], b[3]), score=float(self.scores[row]),
                     cls=int(self.classes[row]), confirmed=bool(self.confirmed[row]), hits=int(self.hits[row]),
                     first_seen=float(self.first_seen[row]), last_seen=float(self.last_seen[row]))

    def to_list(self) -> list[Track]:
        """Every row as a Track (columns turned into Python values at once)."""
        return [
            Track(id=i, box=(b[0], b[1], b[2], b[3]), score=s, cls=c, confirmed=ok, hits=h, first_seen=f, last_seen=last)
            for i, b, s, c, ok, h, f, last in zip(
                self.ids.tolist(), self.boxes.tolist(), self.scores.tolist(), self.classes.tolist(), self.confirmed.tolist(),
                self.hits.tolist(), self.first_seen.tolist(), self.last_seen.tolist(), strict=True,
            )
        ]


class ByteTracker:
    """Tracks one camera's objects across frames; ``update`` once per detected frame, in time order.

    Each ``update(detections, t)``:

    1. Predicts every live track to ``t`` with its Kalman filter (constant velocity on cx, cy, a, h,
       stepped by the real ``dt`` since the previous frame); lost tracks stop growing or shrinking
       (their height velocity is zeroed, as in ByteTrack). Tracks unmatched for more than
       ``lost_seconds`` (lost ones, or any after a pause that long between frames) are removed first.
    2. Splits the detections into high (score >= ``high_score``) and low
       (``low_score`` <= score < ``high_score``); lower scores are ignored.
    3. Stage 1: high detections against all confirmed tracks, tracked and lost, by IoU with the
       predicted boxes; a pair must be of the same class and overlap by at least ``match_iou``.
    4. Stage 2: confirmed tracks still unmatched that were tracked in the previous frame (not lost)
       against the low detections, same gating. This is ByteTrack's step: occluded objects keep
       their id through low-score frames, while low detections never start or revive anything.
    5. Then unconfirmed tracks against the high detections left over (ByteTrack's third
       association). They come after the confirmed ones, so a duplicate detection cannot steal an
       established object's match.
    6. Matched tracks take the detection (Kalman update, hits + 1, last_seen = t) and are returned.
       Unmatched confirmed tracks become lost; unmatched unconfirmed tracks are dropped, so a track
       is confirmed only by ``confirm_hits`` consecutive matches.
    7. High detections still unmatched with score >= ``new_track_score`` start new unconfirmed
       tracks (returned too, with hits = 1).
    """

    def __init__(
        self,
        *,
        high_score: float = 0.5,
        low_score: float = 0.1,
        new_track_score: float = 0.6,
        match_iou: float = 0.2,
        confirm_hits: int = 3,
        lost_seconds: float = 2.0,
    ) -> None:
        if not 0 <= low_score <= high_score:
            raise ValueError("need 0 <= low_score <= high_score")
        if not 0 < match_iou <= 1:
            raise ValueError("match_iou must be in (0, 1]")
        if confirm_hits < 1 or lost_seconds < 0:
            raise ValueError("confirm_hits must be >= 1 and lost_seconds >= 0")
        self.high_score, self.low_score, self.new_track_score = high_score, low_score, new_track_score
        self.match_iou, self.confirm_hits, self.lost_seconds = match_iou, confirm_hits, lost_seconds
        self._next_id = 1
        self._t: float | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every track (after a declared gap in the segments); ids go on increasing."""
        self._ids = np.zeros(0, np.int64)
        self._cls = np.zeros(0, np.int64)
        self._hits = np.zeros(0, np.int64)
        self._first = np.zeros(0, np.float64)
        self._last = np.zeros(0, np.float64)
        self._lost = np.zeros(0, np.bool_)
        self._mean = np.zeros((0, 8), np.float64)
        self._cov = np.zeros((0, 3, 4), np.float64)  # kalman.py: the 12 non-zero numbers of each 8 x 8
        self._t = None  # the next frame may come at any time: nothing to predict from

    def __len__(self) -> int:
        """Live tracks, lost ones included."""
        return int(self._ids.shape[0])

    def live_ids(self) -> set[int]:
        """Ids of the live tracks, lost ones included: the only ids ``update`` can return again."""
        return set(self._ids.tolist())

    # -- one frame ---------------------------------------------------------------------------

    def update(self, detections: Detections, t: float) -> list[Track]:
        """Feed one frame's detections at time ``t`` (seconds, increasing; frames may be unevenly
        spaced since detection samples at detect_fps); returns the tracks matched in this frame
        (confirmed or not), ordered by id."""
        return self.step(detections, t).to_list()

    def step(self, detections: Detections, t: float) -> Tracks:
        """``update``, returning the tracks as columns (what CameraAnalyzer feeds its rules)."""
        t = float(t)
        if self._t is not None and t < self._t:
            raise ValueError(f"time went backwards: {t} after {self._t}")
        dt = 0.0 if self._t is None else t - self._t
        self._t = t

        # 1. Expire tracks unmatched for too long (lost ones, or any after a long pause), predict the rest.
        self._keep(t - self._last <= self.lost_seconds)
        self._mean[self._lost, 7] = 0.0
        # Unconfirmed tracks are predicted where they were seen: a velocity learnt from two jittery
        # boxes a tenth of a second apart (uneven sampling) can throw a 40 px box out of its own
        # reach half a second later; a real mover at up to 0.6 sizes/s still overlaps by IoU > 0.5.
        self._mean[self._hits < self.confirm_hits, 4:8] = 0.0
        self._mean, self._cov = kalman.predict(self._mean, self._cov, dt)

        # 2. High and low detections.
        boxes = np.asarray(detections.boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(detections.scores, np.float32).reshape(-1)
        classes = np.asarray(detections.classes).astype(np.int64).reshape(-1)
        usable = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
        high = usable & (scores >= self.high_score)
        low = usable & (scores >= self.low_score) & ~high
        # The pairs any stage may match: same class, IoU with the predicted box >= match_iou.
        candidates = np.flatnonzero(high | low)
        pair_row, pair_det, pair_iou = overlapping_pairs(
            kalman.xyah_to_xyxy(self._mean), self._cls, boxes[candidates], classes[candidates], self.match_iou)
        pair_det = candidates[pair_det]

        confirmed = self._hits >= self.confirm_hits
        matched_det = np.full(len(self), -1, np.int64)  # track row -> detection index
        free = np.ones(len(boxes), np.bool_)  # detections not yet taken

        # 3-5. The association stages, each on what the earlier ones left.
        stages = (
            (confirmed, high),  # 3. confirmed tracks (tracked + lost) vs high
            (confirmed & ~self._lost, low),  # 4. tracked confirmed tracks vs low
            (~confirmed, high),  # 5. unconfirmed tracks vs the high detections left
        )
        for track_mask, det_mask in stages if pair_row.size else ():
            take = (track_mask & (matched_det < 0))[pair_row] & (det_mask & free)[pair_det]
            r, c = assign(pair_row[take], pair_det[take], pair_iou[take])
            matched_det[r] = c
            free[c] = False

        # 6. Matched tracks take their detection; unmatched ones become lost or are dropped.
        matched = matched_det >= 0
        det_of = matched_det[matched]
        rows = np.flatnonzero(matched)
        self._mean[rows], self._cov[rows] = kalman.update(
            self._mean[rows], self._cov[rows], kalman.xyxy_to_xyah(boxes[det_of])
        )
        self._hits[rows] += 1
        self._last[rows] = t
        self._lost[rows] = False
        self._lost[~matched & confirmed] = True
        keep = matched | confirmed
        self._keep(keep)
        det_of_row = np.full(len(keep), -1, np.int64)
        det_of_row[rows] = det_of
        det_of_row = det_of_row[keep]

        # 7. New tracks from confident detections nobody claimed.
        new = np.flatnonzero(free & high & (scores >= self.new_track_score))
        if new.size:
            self._start(boxes[new], classes[new], t)
            det_of_row = np.concatenate([det_of_row, new])

        rows = np.flatnonzero(det_of_row >= 0)
        dets = det_of_row[rows]
        hits = self._hits[rows]
        return Tracks(
            ids=self._ids[rows], boxes=boxes[dets].astype(np.float64), scores=scores[dets].astype(np.float64),
            classes=self._cls[rows], confirmed=hits >= self.confirm_hits, hits=hits,
            first_seen=self._first[rows], last_seen=self._last[rows],
        )

    def _keep(self, mask: npt.NDArray[np.bool_]) -> None:
        if mask.all():
            return  # the usual frame: nothing expires, nothing dropped
        self._ids, self._cls, self._hits = self._ids[mask], self._cls[mask], self._hits[mask]
        self._first, self._last, self._lost = self._first[mask], self._last[mask], self._lost[mask]
        self._mean, self._cov = self._mean[mask], self._cov[mask]

    def _start(self, boxes: npt.NDArray[np.float32], classes: npt.NDArray[np.int64], t: float) -> None:
        n = boxes.shape[0]
        mean, cov = kalman.initiate(kalman.xyxy_to_xyah(boxes))
        self._ids = np.concatenate([self._ids, np.arange(self._next_id, self._next_id + n, dtype=np.int64)])
        self._next_id += n
        self._cls = np.concatenate([self._cls, classes])
        self._hits = np.concatenate([self._hits, np.ones(n, np.int64)])
        self._first = np.concatenate([self._first, np.full(n, t)])
        self._last = np.concatenate([self._last, np.full(n, t)])
        self._lost = np.concatenate([self._lost, np.zeros(n, np.bool_)])
        self._mean = np.concatenate([self._mean, mean])
        self._cov = np.concatenate([self._cov, cov])

    # -- persistence (DESIGN §5: stored with the camera's last applied segment) ------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to continue, JSON-ready (columns, not objects).

        The Kalman means (8 numbers a track) and covariances (12) are packed (``_pack``): ~0.25 KiB
        a live track. ``t`` is None before the first frame and after ``reset``.
        """
        return {
            "version": STATE_VERSION,
            "params": {
                "high_score": self.high_score, "low_score": self.low_score, "new_track_score": self.new_track_score,
                "match_iou": self.match_iou, "confirm_hits": self.confirm_hits, "lost_seconds": self.lost_seconds,
            },
            "next_id": self._next_id,
            "t": self._t,
            "tracks": {
                "id": self._ids.tolist(),
                "cls": self._cls.tolist(),
                "hits": self._hits.tolist(),
                "first_seen": self._first.tolist(),
                "last_seen": self._last.tolist(),
                "lost": self._lost.astype(np.int64).tolist(),
                "mean": _pack(self._mean),
                "cov": _pack(self._cov),
            },
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> ByteTracker:
        """A tracker that continues exactly as the one ``state()`` was taken from would have."""
        if state.get("version") not in (1, STATE_VERSION):
            raise ValueError(f"unknown tracker state version {state.get('version')!r}")
        p = state["params"]
        tracker = cls(
            high_score=float(p["high_score"]), low_score=float(p["low_score"]), new_track_score=float(p["new_track_score"]),
            match_iou=float(p["match_iou"]), confirm_hits=int(p["confirm_hits"]), lost_seconds=float(p["lost_seconds"]),
        )
        tracks = state["tracks"]
        n = len(tracks["id"])
        tracker._next_id = int(state["next_id"])
        tracker._t = None if state["t"] is None else float(state["t"])
        tracker._ids = np.asarray(tracks["id"], np.int64).reshape(n)
        tracker._cls = np.asarray(tracks["cls"], np.int64).reshape(n)
        tracker._hits = np.asarray(tracks["hits"], np.int64).reshape(n)
        tracker._first = np.asarray(tracks["first_seen"], np.float64).reshape(n)
        tracker._last = np.asarray(tracks["last_seen"], np.float64).reshape(n)
        tracker._lost = np.asarray(tracks["lost"], np.int64).reshape(n).astype(np.bool_)
        if state["version"] == STATE_VERSION:
            tracker._mean, tracker._cov = _unpack(tracks["mean"], (n, 8)), _unpack(tracks["cov"], (n, 3, 4))
        else:
            tracker._mean = np.asarray(tracks["mean"], np.float64).reshape(n, 8)
            tracker._cov = kalman.unpack_full_covariances(tracks["cov"])
        if n and int(tracker._ids.max()) >= tracker._next_id:
            raise ValueError("tracker state is inconsistent: a track id is not below next_id")
        if not (np.isfinite(tracker._mean).all() and np.isfinite(tracker._cov).all()):
            raise ValueError("tracker state holds a non-finite Kalman mean")
        return tracker
