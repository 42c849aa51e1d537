"""Per-frame and per-sequence video metrics: RGB PSNR, YUV 4:2:0 PSNR (6:1:1), bpp.

Conventions (those of the learned video coding papers, e.g. Agustsson et al. 2020 and Zhu et
al. 2022 sec. 4.2, and of the JVET common test conditions for the YUV weighting):

* RGB PSNR of a frame: :func:`tfc_swin.eval.metrics.psnr` (all pixels and channels, peak 255,
  capped at 100 dB).
* YUV PSNR of a frame: PSNR of each ``yuv420p`` plane (same formula and cap), combined as
  ``(6 PSNR_Y + PSNR_U + PSNR_V) / 8``. RGB frames are converted with
  :func:`tfc_swin.video.frames.rgb_to_yuv420` (BT.601 limited range) when no planes are given.
* bpp of a frame: ``8 * bytes / (height * width)``.
* Sequence PSNRs are the mean of the per-frame PSNRs; sequence bpp is
  ``8 * total bytes / (height * width * frames)``, where the total is the whole file (headers
  and container included) when known, else the sum of the frames.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tfc_swin.eval.metrics import bits_per_pixel, psnr
from tfc_swin.video.frames import Planes, rgb_to_yuv420

YUV_WEIGHTS = (6, 1, 1)


def plane_psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
  """PSNR of one 2-D plane with :func:`tfc_swin.eval.metrics.psnr` (peak 255, capped)."""
  if original.ndim != 2:
    raise ValueError(f"expected a 2-D plane, got shape {original.shape}")
  as_rgb = lambda p: np.broadcast_to(p[..., None], p.shape + (3,))  # noqa: E731
  return psnr(as_rgb(original), as_rgb(reconstruction))


def yuv_psnr(original: Planes, reconstruction: Planes) -> tuple[float, float, float, float]:
  """``(PSNR_Y, PSNR_U, PSNR_V, PSNR_YUV)`` of two ``yuv420p`` frames, YUV weighted 6:1:1."""
  y, u, v = (plane_psnr(a, b) for a, b in zip(original, reconstruction, strict=True))
  return y, u, v, weighted_yuv_psnr(y, u, v)


def weighted_yuv_psnr(psnr_y: float, psnr_u: float, psnr_v: float) -> float:
  wy, wu, wv = YUV_WEIGHTS
  return (wy * psnr_y + wu * psnr_u + wv * psnr_v) / (wy + wu + wv)


@dataclasses.dataclass(frozen=True)
class FrameMetrics:
  index: int
  num_bytes: int
  bpp: float
  psnr_rgb: float
  psnr_y: float
  psnr_u: float
  psnr_v: float
  psnr_yuv: float
  frame_type: str = ""  # "I" / "P" when known


def frame_metrics(index: int, original: np.ndarray, reconstruction: np.ndarray,
                  num_bytes: int, original_yuv: Planes | None = None,
                  reconstruction_yuv: Planes | None = None,
                  frame_type: str = "") -> FrameMetrics:
  """Metrics of one frame from its RGB frames (and ``yuv420p`` planes, if the codec has them)."""
  height, width = original.shape[:2]
  original_yuv = original_yuv if original_yuv is not None else rgb_to_yuv420(original)
  if reconstruction_yuv is None:
    reconstruction_yuv = rgb_to_yuv420(reconstruction)
  y, u, v, yuv = yuv_psnr(original_yuv, reconstruction_yuv)
  return FrameMetrics(index, int(num_bytes), bits_per_pixel(num_bytes, height, width),
                      psnr(original, reconstruction), y, u, v, yuv, frame_type)


class FrameSeries:
  """Per-frame views of a dataclass with a ``frames`` tuple of :class:`FrameMetrics`."""
  frames: tuple[FrameMetrics, ...]

  @property
  def num_frames(self) -> int:
    return len(self.frames)

  @property
  def frame_bpp(self) -> list[float]:
    return [f.bpp for f in self.frames]

  @property
  def frame_psnr_rgb(self) -> list[float]:
    return [f.psnr_rgb for f in self.frames]

  @property
  def frame_psnr_yuv(self) -> list[float]:
    return [f.psnr_yuv for f in self.frames]

  def to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SequenceMetrics(FrameSeries):
  height: int
  width: int
  total_bytes: int
  bpp: float
  psnr_rgb: float
  psnr_y: float
  psnr_u: float
  psnr_v: float
  psnr_yuv: float
  frames: tuple[FrameMetrics, ...]


def sequence_metrics(frames: Sequence[FrameMetrics], height: int, width: int,
                     total_bytes: int | None = None) -> SequenceMetrics:
  """Averages per-frame metrics; ``total_bytes`` (the file size) defaults to the frames' sum."""
  if not frames:
    raise ValueError("no frames")
  total = int(total_bytes) if total_bytes is not None else sum(f.num_bytes for f in frames)

  def mean(name: str) -> float:
    return float(np.mean([getattr(f, name) for f in frames]))

  return SequenceMetrics(height, width, total,
                         bits_per_pixel(total, height, width) / len(frames),
                         mean("psnr_rgb"), mean("psnr_y"), mean("psnr_u"), mean("psnr_v"),
                         mean("psnr_yuv"), tuple(frames))


def evaluate_sequence(originals: Iterable[np.ndarray], reconstructions: Iterable[np.ndarray],
                      frame_bytes: Iterable[int], total_bytes: int | None = None,
                      frame_types: Iterable[str] | None = None) -> SequenceMetrics:
  """Streams RGB frame pairs (one frame in memory at a time) into :class:`SequenceMetrics`.

  The three iterables must have the same length (ValueError otherwise).
  """
  types = iter(frame_types) if frame_types is not None else None
  results, shape = [], None
  try:
    for index, (a, b, size) in enumerate(zip(originals, reconstructions, frame_bytes,
                                             strict=True)):
      shape = a.shape
      kind = next(types, "") if types is not None else ""
      results.append(frame_metrics(index, a, b, size, frame_type=kind))
  except ValueError as e:
    if str(e).startswith("zip()"):
      raise ValueError("originals, reconstructions and frame sizes differ in length") from None
    raise
  if shape is None:
    raise ValueError("no frames")
  return sequence_metrics(results, shape[0], shape[1], total_bytes)
