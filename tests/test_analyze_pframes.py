"""P-frame anatomy (Zhu et al. 2022 sec. 3.2): PFrameCodec.analyze_pframe and
experiments/analyze_pframes.py, with the untrained tiny Conv-SSF on generated 64x64 frames."""
import json

import numpy as np
import pytest
import tensorflow as tf
from absl import app

from tfc_swin.codecs import build_video_codec
from tfc_swin.video.frames import write_png_frames
from helpers import load_experiment, smooth_image


def shifted_frames(num_frames, shift=2):
  """64x64 frames of one pattern, moving ``shift`` pixels right per frame."""
  pattern = smooth_image(64, 64 + shift * num_frames)
  return [pattern[:, shift * (num_frames - t):shift * (num_frames - t) + 64]
          for t in range(num_frames)]


@pytest.fixture(scope="module")
def codec():
  video = build_video_codec("conv-ssf-tiny")
  video.prepare_for_compression()
  return video


def test_analyze_pframe_codes_the_frame(codec):
  """Its bits are the lengths of the real strings, and its frame is its prediction plus the
  decoded residual (compress_pframe's decoded frame, which test_video_codec checks against
  decompress_pframe)."""
  frames = [tf.constant(f) for f in shifted_frames(2)]
  reference = codec.compress_iframe(frames[0])["image"]
  out = codec.analyze_pframe(frames[1], reference)
  lengths = [len(s) for s in out["strings"].numpy()]
  split = codec.flow.num_strings
  assert len(lengths) == codec.num_strings["P"]
  assert int(out["flow_bits"]) == 8 * sum(lengths[:split])
  assert int(out["residual_bits"]) == 8 * sum(lengths[split:])
  assert out["prediction"].shape == out["flow"].shape == (64, 64, 3)
  reconstruct = codec._reconstruct  # pylint: disable=protected-access
  again, _ = reconstruct(out["strings"][split:], out["prediction"][None], tf.constant([64, 64]))
  np.testing.assert_array_equal(again.numpy(), out["image"].numpy())


def run_main(module, argv):
  module.FLAGS(argv)
  try:
    module.run([])
  finally:
    module.FLAGS.unparse_flags()


def test_main_writes_the_analysis(codec, tmp_path, monkeypatch, capsys):
  analyze_pframes = load_experiment("analyze_pframes")
  folder = str(tmp_path / "clip")
  write_png_frames(shifted_frames(3), folder)
  out = tmp_path / "out"
  argv = ["analyze_pframes", f"--sequence={folder}", "--model=conv-ssf-tiny",
          f"--output_dir={out}"]
  for bad, message in ((["--model=nope"], "not a video config"),
                       ([f"--checkpoint={tmp_path / 'none'}"], "not a SavedModel, checkpoint"),
                       (["--figure_frame=0"], "not a P frame")):
    with pytest.raises(app.UsageError, match=message):
      run_main(analyze_pframes, argv + bad)
  monkeypatch.setattr(analyze_pframes, "build_video_codec", lambda name: codec)
  with pytest.raises(app.UsageError, match="has only 3 frames"):
    run_main(analyze_pframes, argv + ["--figure_frame=5"])
  run_main(analyze_pframes, argv + ["--figure_frame=2"])
  result = json.loads((out / "analysis.json").read_text())
  assert result["model"] == "untrained/conv-ssf-tiny"
  assert [f["type"] for f in result["frames"]] == list("IPP")
  keys = {"index", "type", "bits", "flow_bits", "residual_bits", "flow_bpp", "residual_bpp",
          "bpp", "psnr_copy", "psnr_prediction", "psnr_block_matching", "psnr_decoded",
          "flow_mean", "flow_p95", "scale_mean"}
  assert set(result["frames"][1]) == keys
  # (Against this untrained codec's garbage reference nothing predicts well; block matching
  # itself is tested in test_motion_hint.py.)
  assert result["frames"][1]["psnr_block_matching"] >= result["frames"][1]["psnr_copy"] - 0.5
  assert set(result["mean_pframe"]) == keys - {"index", "type", "bits", "flow_bits",
                                                 "residual_bits"}
  assert result["frames"][1]["bpp"] == pytest.approx(result["frames"][1]["bits"] / 64 ** 2)
  assert "| **mean** | P |" in (out / "analysis.md").read_text()
  assert (out / "pframe_2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert "frame 2 P: flow" in capsys.readouterr().out
