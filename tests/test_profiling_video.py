"""Tests of the video-codec complexity profile (complexity.profile_video_codec) and of
experiments/profile.py with video and image configs."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tfc_swin.codecs import build_video_codec
from tfc_swin.profiling import complexity
from helpers import REPO

_SIZES = ((64, 64), (128, 128))


@pytest.fixture(scope="module")
def profiles():
  """(codec, {(height, width): profile}) of a tiny video codec at 64x64 and 128x128 (the
  counting is the image codecs', tested with Swin and conv parts in test_complexity)."""
  codec = build_video_codec("conv-ssf-tiny")
  return codec, {size: complexity.profile_video_codec(codec, *size) for size in _SIZES}


def _paper(result: dict, part: str, modules: tuple[str, ...]) -> int:
  return sum(result["parts"][part]["macs"][m]["paper"] for m in modules)


def test_part_parameters_sum_to_the_codec_total(profiles):
  codec, results = profiles
  result, counts = results[_SIZES[0]], codec.count_parameters()
  assert result["parameters"] == counts
  for part, profile in result["parts"].items():
    assert sum(profile["parameters"].values()) == profile["total_parameters"] == counts[part]
  assert sum(counts[part] for part in result["parts"]) == counts["total"]


def test_pframe_decoder_is_the_synthesis_parts_and_the_warp(profiles):
  _, results = profiles
  result = results[_SIZES[0]]
  coding = result["coding_macs"]
  decoder = complexity.DECODER_MODULES
  synthesis = _paper(result, "flow", decoder) + _paper(result, "residual", decoder)
  assert coding["pframe_decode"]["paper"] == synthesis + result["warp_macs"]["paper"]
  # The encoder decodes its own strings too (h_s twice), and runs the analysis transforms.
  analysis = sum(_paper(result, p, complexity.ENCODER_MODULES) for p in ("flow", "residual"))
  assert coding["pframe_encode"]["paper"] == coding["pframe_decode"]["paper"] + analysis
  for kind in ("paper", "total"):
    assert coding["pframe_encode"][kind] >= coding["pframe_decode"][kind] > 0
    assert coding["iframe_encode"][kind] >= coding["iframe_decode"][kind] > 0
  assert result["warp_macs"]["paper"] > 0 and result["warp_macs"]["attention"] == 0


def test_macs_scale_with_the_pixels(profiles):
  _, results = profiles
  small, big = (results[size] for size in _SIZES)
  for stage, count in small["coding_macs"].items():
    for kind in ("paper", "total"):
      assert big["coding_macs"][stage][kind] == pytest.approx(4 * count[kind], rel=0.05), stage
  assert big["warp_macs"]["paper"] == 4 * small["warp_macs"]["paper"]


@pytest.mark.slow
def test_profile_binary(tmp_path):
  output = tmp_path / "complexity.md"
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")

  def run(*models: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "experiments" / "profile.py"), "--models",
                           ",".join(models), "--height", "64", "--width", "64", "--nomemory",
                           "--output", str(output)], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)

  proc = run("conv-ssf-tiny", "conv-charm-tiny")
  assert proc.returncode == 0, proc.stderr[-3000:]
  video, image = json.loads(output.with_suffix(".json").read_text())
  assert video["kind"] == "video" and "kind" not in image
  assert image["model"] == "conv-charm-tiny" and "memory" not in image
  assert image["decode_macs"]["paper"] == sum(image["macs"][m]["paper"]
                                              for m in complexity.DECODER_MODULES)
  report = output.read_text()
  assert "| conv-ssf-tiny | 0.02 |" in report and "| conv-charm-tiny | ChARM / prior |" in report
  assert "give no parameter counts or GMACs" in report
  proc = run("no-such-codec")
  assert proc.returncode != 0
  assert "image configs:" in proc.stderr and "video configs: " in proc.stderr
  assert "conv-ssf-tiny" in proc.stderr
