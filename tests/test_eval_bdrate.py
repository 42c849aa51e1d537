"""Tests of BD-rate / BD-PSNR, rate-saving curves, BD tables and their binaries."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.interpolate

from tfc_swin.eval import bdrate, plots, results
from helpers import REPO

ANCHOR_RATE = [0.12, 0.25, 0.5, 0.9, 1.6]
ANCHOR_PSNR = [27.0, 30.5, 34.0, 37.0, 40.5]


def paper_bd_rate(rate_ref, psnr_ref, rate_new, psnr_new):
  """Zhu et al. 2022, App. C, transcribed literally (inputs sorted by PSNR)."""
  min_psnr = max(psnr_ref[0], psnr_new[0], 30)
  max_psnr = min(psnr_ref[-1], psnr_new[-1], 44)
  log_rate_ref = np.log(rate_ref)
  log_rate_new = np.log(rate_new)
  spline_ref = scipy.interpolate.CubicSpline(psnr_ref, log_rate_ref, bc_type="not-a-knot",
                                             extrapolate=True)
  spline_new = scipy.interpolate.CubicSpline(psnr_new, log_rate_new, bc_type="not-a-knot",
                                             extrapolate=True)
  delta_log_rate = (spline_new.integrate(min_psnr, max_psnr)
                    - spline_ref.integrate(min_psnr, max_psnr))
  delta_rate = np.exp(delta_log_rate / (max_psnr - min_psnr))
  return 100 * (delta_rate - 1)


def test_same_psnr_scaled_rate_is_exact():
  test_rate = [0.9 * r for r in ANCHOR_RATE]
  assert bdrate.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, ANCHOR_PSNR) == pytest.approx(
      -10.0, abs=1e-9)
  assert bdrate.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, [1.25 * r for r in ANCHOR_RATE],
                        ANCHOR_PSNR) == pytest.approx(25.0, abs=1e-9)
  assert bdrate.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, ANCHOR_RATE, ANCHOR_PSNR) == 0.0


def test_psnr_shift_on_log_linear_curve():
  # log(rate) = a + b * psnr is reproduced exactly by the spline; +1 dB at equal rate
  # means the test needs exp(-b) times the rate at equal PSNR.
  a, b = -8.0, 0.2
  psnr = np.array([28.0, 31.0, 35.0, 39.0, 43.0])
  rate = np.exp(a + b * psnr)
  expected = 100 * (math.exp(-b) - 1)
  assert bdrate.bd_rate(rate, psnr, rate, psnr + 1.0) == pytest.approx(expected, abs=1e-9)
  assert bdrate.bd_psnr(rate, psnr, rate, psnr + 1.0) == pytest.approx(1.0, abs=1e-9)
  # 10% fewer bits at equal PSNR = -log(0.9) / b dB more at equal rate.
  assert bdrate.bd_psnr(rate, psnr, 0.9 * rate, psnr) == pytest.approx(-math.log(0.9) / b,
                                                                       abs=1e-9)


def test_window_and_partial_overlap():
  # Anchor spans [27, 40.5], test [32, 50]: integration over [32, 40.5] only.
  test_psnr = [32.0, 36.0, 41.0, 45.0, 50.0]
  spline, _, _ = bdrate.log_rate_spline(ANCHOR_RATE, ANCHOR_PSNR)
  test_rate = 0.8 * np.exp(spline(test_psnr))
  value = bdrate.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, test_psnr)
  assert value == pytest.approx(paper_bd_rate(ANCHOR_RATE, ANCHOR_PSNR, test_rate, test_psnr))
  narrow = bdrate.bd_rate(ANCHOR_RATE, ANCHOR_PSNR, [0.9 * r for r in ANCHOR_RATE], ANCHOR_PSNR,
                          min_psnr=33.0, max_psnr=35.0)
  assert narrow == pytest.approx(-10.0, abs=1e-9)


def test_matches_paper_code_on_random_curves():
  rng = np.random.default_rng(0)
  for _ in range(20):
    psnr_ref = np.sort(rng.uniform(25, 47, 6))
    psnr_new = np.sort(rng.uniform(25, 47, 5))
    rate_ref = np.exp(np.sort(rng.uniform(-3, 1, 6)))
    rate_new = np.exp(np.sort(rng.uniform(-3, 1, 5)))
    if min(psnr_ref[-1], psnr_new[-1], 44) <= max(psnr_ref[0], psnr_new[0], 30):
      continue
    expected = paper_bd_rate(rate_ref, psnr_ref, rate_new, psnr_new)
    order = rng.permutation(6)  # our function sorts the points itself
    assert bdrate.bd_rate(rate_ref[order], psnr_ref[order], rate_new, psnr_new) == (
        pytest.approx(expected, rel=1e-12, abs=1e-12))


def test_against_bjontegaard_package():
  bjontegaard = pytest.importorskip("bjontegaard")
  # With 4 points per curve, the not-a-knot spline is the single interpolating cubic, as is
  # the package's method='cubic' (np.polyfit degree 3). All PSNRs lie inside [30, 44], so the
  # paper's window equals the package's overlap interval and both must agree exactly.
  rng = np.random.default_rng(1)
  for _ in range(10):
    psnr_ref = np.linspace(31, 43, 4) + rng.uniform(-0.5, 0.5, 4)
    psnr_new = np.linspace(31, 43, 4) + rng.uniform(-0.5, 0.5, 4)
    rate_ref = np.exp(-8 + 0.2 * psnr_ref + 0.005 * (psnr_ref - 37) ** 2
                      + rng.normal(0, 0.05, 4))
    rate_new = np.exp(-8.2 + 0.2 * psnr_new + 0.004 * (psnr_new - 37) ** 2
                      + rng.normal(0, 0.05, 4))
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      expected_rate = bjontegaard.bd_rate(rate_ref, psnr_ref, rate_new, psnr_new,
                                          method="cubic", min_overlap=0)
      expected_psnr = bjontegaard.bd_psnr(rate_ref, psnr_ref, rate_new, psnr_new,
                                          method="cubic", min_overlap=0)
    assert bdrate.bd_rate(rate_ref, psnr_ref, rate_new, psnr_new) == pytest.approx(
        expected_rate, rel=1e-7, abs=1e-9)
    assert bdrate.bd_psnr(rate_ref, psnr_ref, rate_new, psnr_new) == pytest.approx(
        expected_psnr, rel=1e-7, abs=1e-9)


def test_errors_are_explicit():
  with pytest.raises(bdrate.NonOverlappingError, match=r"anchor quality range \[20.000"):
    bdrate.bd_rate([0.1, 0.2], [20.0, 25.0], [0.1, 0.2], [21.0, 29.0])
  assert bdrate.bd_rate([0.1, 0.2], [20.0, 25.0], [0.1, 0.2], [21.0, 29.0], min_psnr=0) < 0
  with pytest.raises(bdrate.NonOverlappingError, match="rate range"):
    bdrate.bd_psnr([0.1, 0.2], [30.0, 35.0], [0.3, 0.4], [31.0, 36.0])
  with pytest.raises(ValueError, match="duplicate"):
    bdrate.bd_rate([0.1, 0.2, 0.3], [30.0, 30.0, 35.0], [0.1, 0.2], [30.0, 36.0])
  with pytest.raises(ValueError, match="at least 2"):
    bdrate.bd_rate([0.1], [30.0], [0.1, 0.2], [30.0, 36.0])


def make_results(name: str, curves: dict[str, tuple[list[float], list[float]]],
                 dataset: str = "toy") -> dict:
  records = []
  for image, (rates, psnrs) in curves.items():
    for i, (rate, psnr) in enumerate(zip(rates, psnrs)):
      records.append({"image": image, "quality": str(i), "bpp": rate, "psnr": psnr,
                      "ms_ssim": 1 - 10 ** (-psnr / 20), "ms_ssim_db": psnr / 2,
                      "encoding_time": 0.01, "decoding_time": 0.01})
  return results.build_results(name, f"{name} test data", {}, records,
                               [str(i) for i in range(5)], dataset=dataset)


def toy_pair(test_scale: float = 0.9) -> tuple[dict, dict]:
  shifted = [p - 1.0 for p in ANCHOR_PSNR]
  anchor = make_results("anchor", {"a.png": (ANCHOR_RATE, ANCHOR_PSNR),
                                   "b.png": (ANCHOR_RATE, shifted)})
  test = make_results("test", {"a": ([test_scale * r for r in ANCHOR_RATE], ANCHOR_PSNR),
                               "b": ([0.8 * r for r in ANCHOR_RATE], shifted)})
  return anchor, test


def test_dataset_delta_is_mean_of_per_image_values():
  anchor, test = toy_pair()
  delta = bdrate.bd_rate_results(anchor, test)
  assert delta.per_image == pytest.approx({"a": -10.0, "b": -20.0})
  assert delta.mean == pytest.approx(-15.0) and not delta.skipped and not delta.unmatched
  quality = bdrate.bd_psnr_results(anchor, test)
  assert quality.kind == "bd_psnr" and quality.mean > 0
  ms_ssim = bdrate.bd_rate_results(anchor, test, metric="ms_ssim_db")
  assert ms_ssim.mean == pytest.approx(-15.0)


def test_dataset_nonoverlap_raises_or_skips():
  anchor, test = toy_pair()
  test["results"]["per_image"] += [
      {"image": "c", "quality": "0", "bpp": 0.1, "psnr": 20.0},
      {"image": "c", "quality": "1", "bpp": 0.2, "psnr": 25.0}]
  anchor["results"]["per_image"] += [
      {"image": "c.png", "quality": "0", "bpp": 0.1, "psnr": 21.0},
      {"image": "c.png", "quality": "1", "bpp": 0.2, "psnr": 29.0}]
  with pytest.raises(bdrate.NonOverlappingError, match=r"image c .*test range \[20.000, 25.000\]"):
    bdrate.bd_rate_results(anchor, test)
  delta = bdrate.bd_rate_results(anchor, test, skip_nonoverlapping=True)
  assert list(delta.skipped) == ["c"] and delta.mean == pytest.approx(-15.0)


def test_rate_savings_and_table():
  anchor, test = toy_pair(test_scale=0.8)
  grid, saving = plots.rate_savings(anchor, test)
  assert grid[0] == pytest.approx(np.mean([ANCHOR_PSNR[0], ANCHOR_PSNR[0] - 1]))
  assert np.allclose(saving, 20.0)
  other = make_results("other", {"a": (ANCHOR_RATE, ANCHOR_PSNR)}, dataset="second")
  second_anchor = make_results("anchor", {"a": (ANCHOR_RATE, ANCHOR_PSNR)}, dataset="second")
  table = plots.bd_rate_table([anchor, test, other, second_anchor], "anchor")
  assert "| Codec | second | toy |" in table
  assert "| test |  | -20.00% |" in table
  assert "| other | 0.00% |  |" in table
  assert "| anchor |" not in table
  single = make_results("single", {"a": (ANCHOR_RATE[:1], ANCHOR_PSNR[:1])}, dataset="second")
  table = plots.bd_rate_table([single, second_anchor], "anchor")
  assert "| single | n/a (need at least 2 rate-distortion points, got 1) |" in table
  psnr, saving = plots.rate_savings(second_anchor, single)  # the anchor's own first point
  assert psnr.tolist() == [ANCHOR_PSNR[0]] and saving[0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.slow
def test_binaries(tmp_path: Path):
  anchor, test = toy_pair()
  folder = tmp_path / "toy"
  folder.mkdir()
  results.write_json(folder / "anchor.json", anchor)
  results.write_json(folder / "test.json", test)
  (folder / "vtm.csv").write_text(
      "image,quality,bpp,psnr\n" + "".join(
          f"a,{i},{1.1 * r},{p}\nb,{i},{1.1 * r},{p - 1}\n"
          for i, (r, p) in enumerate(zip(ANCHOR_RATE, ANCHOR_PSNR))), encoding="utf-8")
  command = [sys.executable, str(REPO / "experiments" / "bdrate.py"),
             "--anchor", str(folder / "anchor.json"),
             "--test", f"{folder / 'test.json'},external:{folder / 'vtm.csv'}"]
  done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
  assert done.returncode == 0, done.stderr
  assert "BD-rate: -15.000%" in done.stdout and "BD-rate: +10.000%" in done.stdout

  done = subprocess.run(command + ["--min", "45", "--max", "50"], capture_output=True,
                        text=True, timeout=60, check=False)
  assert done.returncode != 0 and "empty BD-rate interval" in done.stderr
  done = subprocess.run(command + ["--min", "40", "--max", "50", "--skip_nonoverlapping"],
                        capture_output=True, text=True, timeout=60, check=False)
  assert done.returncode == 0, done.stderr
  assert "1 skipped as non-overlapping" in done.stdout

  out = tmp_path / "plots"
  done = subprocess.run([sys.executable, str(REPO / "experiments" / "plot_rd.py"),
                         "--results", f"{folder / 'anchor.json'},{folder / 'test.json'}",
                         "--anchor", f"external:{folder / 'vtm.csv'}", "--output_dir", str(out)],
                        capture_output=True, text=True, timeout=60, check=False)
  assert done.returncode == 0, done.stderr
  for name in ("toy_rd_psnr.png", "toy_rd_ms_ssim_db.png", "toy_rate_savings.png"):
    assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  table = (out / "bdrate_table.md").read_text()
  assert "relative to vtm" in table and "| test | -22.73% |" in table
  assert json.loads((folder / "test.json").read_text())["name"] == "test"
