"""RD plots, rate-saving plots (paper Fig. 3b style), BD-rate tables (Table 1 style) and
training curves.

Figures are drawn with matplotlib's object API and saved as PNG through the Agg
canvas, so no display or pyplot state is involved.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfc_swin.eval import bdrate
from tfc_swin.eval.tables import markdown_table

AXIS_LABELS = {"psnr": "PSNR (RGB) [dB]", "ms_ssim_db": "MS-SSIM [dB]"}


def averaged_curve(results: dict[str, Any], metric: str = "psnr"
                   ) -> tuple[np.ndarray, np.ndarray]:
  """Averaged (bpp, metric) points of a results object, sorted by bpp."""
  rows = [a for a in results["results"]["averages"] if a.get(metric) is not None]
  rows.sort(key=lambda a: a["bpp"])
  return (np.array([a["bpp"] for a in rows], dtype=np.float64),
          np.array([a[metric] for a in rows], dtype=np.float64))


def _save(figure: Figure, path: str | Path) -> Path:
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  FigureCanvasAgg(figure)
  figure.savefig(path, dpi=120, bbox_inches="tight")
  return path


def line_style(index: int) -> dict[str, str]:
  """Colour and dash of the ``index``-th line: the 10 default colours, dashed after the first
  10 lines and dotted after 20, so that no two lines of a plot look alike."""
  return {"color": f"C{index % 10}", "linestyle": ("-", "--", ":")[index // 10 % 3]}


def plot_rd(results_list: Sequence[dict[str, Any]], path: str | Path, metric: str = "psnr",
            title: str = "") -> Path:
  """Plots averaged metric-vs-bpp curves, one line per codec; returns the PNG path."""
  figure = Figure(figsize=(7, 5))
  axes = figure.add_subplot()
  for index, results in enumerate(results_list):
    bpp, values = averaged_curve(results, metric)
    if len(bpp):
      axes.plot(bpp, values, marker="o", markersize=3, label=results["name"],
                **line_style(index))
  axes.set_xlabel("bits per pixel")
  axes.set_ylabel(AXIS_LABELS[metric])
  axes.set_title(title)
  axes.grid(True, alpha=0.3)
  axes.legend()
  return _save(figure, path)


def plot_training(curves: dict[str, Sequence[dict[str, float]]], path: str | Path,
                  title: str = "", x_axis: str = "step",
                  speeds: dict[str, Sequence[dict[str, float]]] | None = None) -> Path:
  """Validation PSNR and bpp over training, one line per run; returns the PNG path.

  ``curves`` maps a label to points ``{"step", "hours", "psnr", "bpp"}`` (see
  :func:`tfc_swin.training.history.validation_curve`); ``x_axis`` is ``"step"`` or
  ``"hours"`` (tracked wall-clock hours). ``speeds`` (same labels, see
  :func:`~tfc_swin.training.history.speed_curve`) adds a steps/s panel.
  """
  if x_axis not in ("step", "hours"):
    raise ValueError(f"x_axis must be 'step' or 'hours', got {x_axis!r}")
  figure = Figure(figsize=(15 if speeds else 10, 4))
  axes = figure.subplots(1, 3 if speeds else 2)
  for index, (label, points) in enumerate(curves.items()):
    xs = [p[x_axis] for p in points]
    for ax, key in zip(axes, ("psnr", "bpp")):
      ax.plot(xs, [p[key] for p in points], color=f"C{index % 10}", label=label)
    for stage in (speeds or {}).get(label, []):
      axes[2].plot([stage["start"], stage["end"]], [stage["steps_per_s"]] * 2,
                   color=f"C{index % 10}", linewidth=2)
  names = ["validation PSNR (RGB) [dB]", "validation bpp", "training steps/s (per stage)"]
  for ax, name in zip(axes, names):
    ax.set_xlabel("training steps (all stages)" if x_axis == "step" and name != names[2]
                  else "tracked training wall-clock hours (all stages)")
    ax.set_ylabel(name)
    ax.grid(True, alpha=0.3)
  axes[0].legend(loc="lower right", fontsize="small")
  figure.suptitle(title)
  return _save(figure, path)


def rate_savings(anchor: dict[str, Any], test: dict[str, Any], num: int = 200
                 ) -> tuple[np.ndarray, np.ndarray]:
  """Rate saving (%) of test over anchor at fixed PSNR, from averaged RD points.

  Both averaged curves are interpolated with the not-a-knot cubic spline of log
  rate over PSNR used for BD-rate; the saving ``100 * (1 - R_test / R_anchor)``
  (larger is better) is evaluated on ``num`` PSNR values spanning the overlap
  of the two PSNR ranges (no extrapolation). A test codec with a single rate point gets the
  saving at that point (if the anchor covers its PSNR).
  """
  ref_spline, ref_lo, ref_hi = bdrate.log_rate_spline(*averaged_curve(anchor), anchor["name"])
  rate, psnr = averaged_curve(test)
  if len(rate) == 1:
    if not ref_lo <= psnr[0] <= ref_hi:
      return np.array([]), np.array([])
    return psnr, 100.0 * (1.0 - rate / np.exp(ref_spline(psnr)))
  new_spline, new_lo, new_hi = bdrate.log_rate_spline(rate, psnr, test["name"])
  lo, hi = max(ref_lo, new_lo), min(ref_hi, new_hi)
  if not hi > lo:
    return np.array([]), np.array([])
  grid = np.linspace(lo, hi, num)
  return grid, 100.0 * (1.0 - np.exp(new_spline(grid) - ref_spline(grid)))


def plot_rate_savings(anchor: dict[str, Any], results_list: Sequence[dict[str, Any]],
                      path: str | Path, title: str = "") -> Path:
  """Plots rate saving over ``anchor`` vs PSNR for each codec (paper Fig. 3b style).

  Line colors follow the position in ``results_list``, as in ``plot_rd``.
  """
  figure = Figure(figsize=(7, 5))
  axes = figure.add_subplot()
  for index, results in enumerate(results_list):
    if results["name"] == anchor["name"]:
      continue
    grid, saving = rate_savings(anchor, results)
    if len(grid):
      axes.plot(grid, saving, label=results["name"], marker="o" if len(grid) == 1 else None,
                **line_style(index))
  axes.axhline(0.0, color="black", linewidth=0.8)
  axes.set_xlabel(AXIS_LABELS["psnr"])
  axes.set_ylabel(f"rate saving over {anchor['name']} [%] (larger is better)")
  axes.set_title(title)
  axes.grid(True, alpha=0.3)
  axes.legend()
  return _save(figure, path)


def _bd_rate_cell(anchor: dict[str, Any], results: dict[str, Any], metric: str,
                  skip_nonoverlapping: bool) -> str:
  try:
    delta = bdrate.bd_rate_results(anchor, results, metric,
                                   skip_nonoverlapping=skip_nonoverlapping)
  except ValueError as error:  # e.g. a single rate point: the plots still show it
    return f"n/a ({str(error).rsplit(': ', 1)[-1]})"
  cell = f"{delta.mean:.2f}%"
  if delta.skipped:
    cell += f" ({len(delta.skipped)}/{len(delta.skipped) + len(delta.per_image)} skipped)"
  return cell


def bd_rate_table(results_list: Sequence[dict[str, Any]], anchor_name: str,
                  metric: str = "psnr", skip_nonoverlapping: bool = False) -> str:
  """Markdown table of per-image-averaged BD-rates vs ``anchor_name``.

  Rows are codecs, columns datasets (the ``dataset`` field of each results
  object); a cell is empty when a codec or the anchor lacks that dataset.
  """
  datasets = sorted({r["dataset"] for r in results_list})
  anchors = {r["dataset"]: r for r in results_list if r["name"] == anchor_name}
  if not anchors:
    raise ValueError(f"anchor {anchor_name!r} is not among the results")
  codecs = list(dict.fromkeys(r["name"] for r in results_list if r["name"] != anchor_name))
  cells = {(r["name"], r["dataset"]): _bd_rate_cell(anchors[r["dataset"]], r, metric,
                                                    skip_nonoverlapping)
           for r in results_list if r["name"] != anchor_name and r["dataset"] in anchors}
  lo, hi = bdrate.default_range(metric)
  window = "" if math.isinf(lo) else f", {metric} window [{lo:g}, {hi:g}]"
  title = (f"BD-rate relative to {anchor_name} ({metric}{window}; per image, then averaged; "
           "smaller is better)")
  rows = [[codec] + [cells.get((codec, d), "") for d in datasets] for codec in codecs]
  table = markdown_table(["Codec"] + datasets, rows, [False] + [True] * len(datasets))
  return f"{title}\n\n{table}\n"
