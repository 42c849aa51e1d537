"""Bjontegaard deltas exactly as in Zhu et al. 2022, appendix C.

BD-rate of one curve pair: points sorted by ascending PSNR, natural log of the
rate, ``scipy.interpolate.CubicSpline(psnr, log_rate, bc_type='not-a-knot',
extrapolate=True)`` for both curves, integrated over ``[lo, hi]`` with
``lo = max(30, min psnr of both)`` and ``hi = min(44, max psnr of both)``;
``delta = exp((integral_test - integral_anchor) / (hi - lo))`` and the result is
``100 * (delta - 1)`` percent (negative = the test codec needs fewer bits).

BD-PSNR (standard Bjontegaard): points sorted by ascending rate, a not-a-knot
cubic spline of PSNR over log rate for both curves, integrated over the
overlap of the two log-rate ranges; result = mean PSNR difference test - anchor
in dB (positive = better). No PSNR window applies to BD-PSNR.

For a dataset both are computed per image and then averaged (paper App. C.1).
An empty integration interval raises ``NonOverlappingError``; it never
produces NaN.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import CubicSpline

PSNR_RANGE = (30.0, 44.0)
METRICS = ("psnr", "ms_ssim_db")


class NonOverlappingError(ValueError):
  """The two curves share no integration interval."""


def default_range(metric: str) -> tuple[float, float]:
  """Quality window of BD-rate: [30, 44] dB for PSNR (paper), unbounded otherwise."""
  if metric not in METRICS:
    raise ValueError(f"unknown metric {metric!r}; choose from {METRICS}")
  return PSNR_RANGE if metric == "psnr" else (-math.inf, math.inf)


def _curve(rate: Sequence[float], quality: Sequence[float], sort_by: str,
           name: str) -> tuple[np.ndarray, np.ndarray]:
  """Returns (log_rate, quality) sorted ascending by ``sort_by`` ('quality' or 'rate')."""
  rate = np.asarray(rate, dtype=np.float64)
  quality = np.asarray(quality, dtype=np.float64)
  if rate.shape != quality.shape or rate.ndim != 1:
    raise ValueError(f"{name}: rate and quality must be 1-D of equal length")
  if len(rate) < 2:
    raise ValueError(f"{name}: need at least 2 rate-distortion points, got {len(rate)}")
  if not (np.all(np.isfinite(rate)) and np.all(np.isfinite(quality)) and np.all(rate > 0)):
    raise ValueError(f"{name}: rates must be positive and all values finite")
  key = quality if sort_by == "quality" else rate
  order = np.argsort(key, kind="stable")
  log_rate, quality = np.log(rate[order]), quality[order]
  if np.any(np.diff(key[order]) <= 0):
    raise ValueError(f"{name}: duplicate {sort_by} values {key[order].tolist()}; "
                     "the spline needs strictly increasing abscissae")
  return log_rate, quality


def log_rate_spline(rate: Sequence[float], psnr: Sequence[float], name: str = "curve"
                    ) -> tuple[CubicSpline, float, float]:
  """Not-a-knot spline of log rate over PSNR and the PSNR range it was fitted on."""
  log_rate, psnr = _curve(rate, psnr, "quality", name)
  spline = CubicSpline(psnr, log_rate, bc_type="not-a-knot", extrapolate=True)
  return spline, float(psnr[0]), float(psnr[-1])


def bd_rate(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
            rate_test: Sequence[float], psnr_test: Sequence[float],
            min_psnr: float = PSNR_RANGE[0], max_psnr: float = PSNR_RANGE[1]) -> float:
  """BD-rate in percent of test vs anchor (paper App. C)."""
  spline_ref, ref_lo, ref_hi = log_rate_spline(rate_anchor, psnr_anchor, "anchor")
  spline_new, new_lo, new_hi = log_rate_spline(rate_test, psnr_test, "test")
  lo = max(ref_lo, new_lo, min_psnr)
  hi = min(ref_hi, new_hi, max_psnr)
  if not hi > lo:
    raise NonOverlappingError(
        f"empty BD-rate interval: anchor quality range [{ref_lo:.3f}, {ref_hi:.3f}], "
        f"test range [{new_lo:.3f}, {new_hi:.3f}], window [{min_psnr}, {max_psnr}]")
  delta_log_rate = spline_new.integrate(lo, hi) - spline_ref.integrate(lo, hi)
  return 100.0 * (math.exp(delta_log_rate / (hi - lo)) - 1.0)


def bd_psnr(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
            rate_test: Sequence[float], psnr_test: Sequence[float]) -> float:
  """BD-PSNR in dB of test vs anchor over the overlapping log-rate range."""
  log_ref, psnr_ref = _curve(rate_anchor, psnr_anchor, "rate", "anchor")
  log_new, psnr_new = _curve(rate_test, psnr_test, "rate", "test")
  lo = max(log_ref[0], log_new[0])
  hi = min(log_ref[-1], log_new[-1])
  if not hi > lo:
    raise NonOverlappingError(
        f"empty BD-PSNR interval: anchor rate range [{math.exp(log_ref[0]):.4g}, "
        f"{math.exp(log_ref[-1]):.4g}], test rate range [{math.exp(log_new[0]):.4g}, "
        f"{math.exp(log_new[-1]):.4g}]")
  spline_ref = CubicSpline(log_ref, psnr_ref, bc_type="not-a-knot", extrapolate=True)
  spline_new = CubicSpline(log_new, psnr_new, bc_type="not-a-knot", extrapolate=True)
  return float((spline_new.integrate(lo, hi) - spline_ref.integrate(lo, hi)) / (hi - lo))


def image_key(name: str) -> str:
  """Images are matched by file stem, so 'kodim01.png' matches 'kodim01'."""
  return Path(name).stem


def per_image_curves(results: dict[str, Any], metric: str
                     ) -> dict[str, tuple[list[float], list[float]]]:
  """``{image stem: (bpps, metric values)}`` from a results object."""
  curves: dict[str, tuple[list[float], list[float]]] = {}
  owners: dict[str, str] = {}
  for record in results["results"]["per_image"]:
    key = image_key(record["image"])
    if owners.setdefault(key, record["image"]) != record["image"]:
      raise ValueError(f"{results['name']}: images {owners[key]!r} and {record['image']!r} "
                       "share the stem used for matching")
    if record.get(metric) is None:
      raise ValueError(f"{results['name']}: image {record['image']} has no {metric!r}")
    rates, values = curves.setdefault(key, ([], []))
    rates.append(float(record["bpp"]))
    values.append(float(record[metric]))
  return curves


@dataclasses.dataclass(frozen=True)
class DatasetDelta:
  """A per-image Bjontegaard delta averaged over the matched images."""

  anchor: str
  test: str
  metric: str
  kind: str  # "bd_rate" (percent) or "bd_psnr" (dB of `metric`)
  mean: float
  per_image: dict[str, float]
  skipped: dict[str, str]  # image -> reason (only with skip_nonoverlapping)
  unmatched: list[str]  # images present in only one of the two results


def _dataset_delta(anchor: dict[str, Any], test: dict[str, Any], metric: str, kind: str,
                   skip_nonoverlapping: bool, window: tuple[float, float]) -> DatasetDelta:
  ref_curves = per_image_curves(anchor, metric)
  new_curves = per_image_curves(test, metric)
  common = sorted(ref_curves.keys() & new_curves.keys())
  unmatched = sorted(ref_curves.keys() ^ new_curves.keys())
  if not common:
    raise ValueError(f"no common images between {anchor['name']!r} and {test['name']!r}")
  per_image: dict[str, float] = {}
  skipped: dict[str, str] = {}
  for key in common:
    args = (*ref_curves[key], *new_curves[key])
    try:
      per_image[key] = bd_rate(*args, *window) if kind == "bd_rate" else bd_psnr(*args)
    except NonOverlappingError as error:
      if not skip_nonoverlapping:
        raise NonOverlappingError(f"image {key} ({anchor['name']} vs {test['name']}, "
                                  f"{metric}): {error}") from error
      skipped[key] = str(error)
    except ValueError as error:
      raise ValueError(f"image {key} ({anchor['name']} vs {test['name']}): {error}") from error
  if not per_image:
    raise NonOverlappingError(f"all {len(common)} images were skipped as non-overlapping")
  mean = math.fsum(per_image.values()) / len(per_image)
  return DatasetDelta(anchor["name"], test["name"], metric, kind, mean, per_image, skipped,
                      unmatched)


def bd_rate_results(anchor: dict[str, Any], test: dict[str, Any], metric: str = "psnr",
                    min_value: float | None = None, max_value: float | None = None,
                    skip_nonoverlapping: bool = False) -> DatasetDelta:
  """Per-image BD-rate (%) of two results objects, averaged over matched images."""
  lo, hi = default_range(metric)
  window = (lo if min_value is None else min_value, hi if max_value is None else max_value)
  return _dataset_delta(anchor, test, metric, "bd_rate", skip_nonoverlapping, window)


def bd_psnr_results(anchor: dict[str, Any], test: dict[str, Any], metric: str = "psnr",
                    skip_nonoverlapping: bool = False) -> DatasetDelta:
  """Per-image BD-PSNR (dB of ``metric``) of two results objects, averaged."""
  default_range(metric)
  return _dataset_delta(anchor, test, metric, "bd_psnr", skip_nonoverlapping,
                        (-math.inf, math.inf))
