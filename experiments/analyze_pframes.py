"""P-frame anatomy of a video codec: where the bits go and what the motion compensation buys
(Zhu et al. 2022 sec. 3.2; scale-space flow of Agustsson et al. 2020).

  python experiments/analyze_pframes.py --sequence data/video/BasketballPass \
      --model swint-ssf-cpu --checkpoint runs/ssf-0.001 --max_frames 12 --output_dir /tmp/anatomy

A sequence is a folder of frames, a video file ffmpeg reads or a raw ``yuv420p`` file (with
``--size``). A model is a video config name with the weights of ``--checkpoint`` (a run folder,
checkpoint folder or prefix; untrained without one), a video SavedModel folder
(``experiments/export_video.py``) or a zoo video model (``--quality``, default the highest).
The frames are really coded in low-delay P (:mod:`tfc_swin.video.coder`): frame ``i`` is an I
frame when ``i % gop_size == 0``, else a P frame predicted from the previous decoded frame
(:meth:`~tfc_swin.codecs.video.PFrameCodec.analyze_pframe`). Per P frame: flow / residual /
total bpp, the RGB PSNR of copying the reference, of the warped prediction, of a classical
block-matching prediction (the reference warped by the 8x8, +-16 pixel full search of
:mod:`tfc_swin.layers.motion_search`: what motion compensation alone can give on this frame)
and of the decoded frame, and the decoded flow's mean and 95th-percentile magnitude (pixels)
and mean scale level.
Writes ``analysis.json``, ``analysis.md`` and ``pframe_<figure_frame>.png`` (reference, frame,
prediction, flow, scale and prediction error) to ``--output_dir``.
"""
from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf
from absl import app, flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure

from tfc_swin import fileio, zoo
from tfc_swin.codecs.base import pad_to_multiple
from tfc_swin.codecs.video import PFrameCodec, build_video_codec, restore_video_codec
from tfc_swin.configs import video_config_names
from tfc_swin.eval.metrics import psnr
from tfc_swin.layers.motion_search import block_motion
from tfc_swin.video.frames import FFmpegError, open_frames, parse_size

FLAGS = flags.FLAGS
#: Per-P-frame columns of analysis.md: (JSON key, header, format).
COLUMNS = (("flow_bpp", "flow bpp", ".4f"), ("residual_bpp", "residual bpp", ".4f"),
           ("bpp", "bpp", ".4f"), ("psnr_copy", "copy dB", ".2f"),
           ("psnr_prediction", "prediction dB", ".2f"),
           ("psnr_block_matching", "block-matching dB", ".2f"),
           ("psnr_decoded", "decoded dB", ".2f"),
           ("flow_mean", "mean \\|flow\\| px", ".3f"), ("flow_p95", "p95 \\|flow\\| px", ".3f"),
           ("scale_mean", "mean scale", ".3f"))
flags.DEFINE_string("sequence", None, "A frame folder, video file or raw .yuv file.")
flags.DEFINE_string("size", None, "WIDTHxHEIGHT of a raw .yuv sequence.")
flags.DEFINE_string("model", None, "A video config name (with --checkpoint), video SavedModel "
                    "folder or zoo video model (with --quality).")
flags.DEFINE_string("checkpoint", None, "Weights of a config --model: a run folder, checkpoint "
                    "folder or prefix (untrained without one).")
flags.DEFINE_integer("quality", None, "Quality of a zoo --model (default: the highest).")
flags.DEFINE_integer("max_frames", 12, "Code only the first frames of the sequence.")
flags.DEFINE_integer("gop_size", 12, "Frames per GOP (one I frame, then P frames).")
flags.DEFINE_integer("figure_frame", 1, "The P frame drawn to pframe_<index>.png.")
flags.DEFINE_string("output_dir", None, "Folder for analysis.json, analysis.md and the figure.")


def load_codec(model: str, checkpoint: str | None, quality: int | None
               ) -> tuple[PFrameCodec, str]:
  """The codec of ``--model`` (weights read, coding tables built) and a name for it."""
  configs = ", ".join(video_config_names())
  if checkpoint and model not in video_config_names():
    raise ValueError(f"--checkpoint goes with a video config name ({configs}), not {model}")
  if quality is not None and model not in zoo.available_models(zoo.VIDEO_MODEL_KIND):
    raise ValueError(f"--quality goes with a zoo video model, not {model}")
  if model in video_config_names():
    codec = build_video_codec(model)
    name = f"{model}@{codec.restore(checkpoint)}" if checkpoint else f"untrained/{model}"
  elif model in zoo.available_models(zoo.VIDEO_MODEL_KIND):
    version, records = zoo.version_records(model)
    quality = quality if quality is not None else max(int(q) for q in records)
    codec = restore_video_codec(zoo.model_folder(model, quality, version, zoo.VIDEO_MODEL_KIND))
    name = zoo.entry_name(model, version, quality)
  elif tf.saved_model.contains_saved_model(model):
    codec, name = restore_video_codec(model), model
  else:
    raise ValueError(f"--model {model}: not a video config ({configs}), video SavedModel "
                     "folder or zoo video model "
                     f"({', '.join(zoo.available_models(zoo.VIDEO_MODEL_KIND)) or 'none'})")
  codec.ensure_prepared()
  return codec, name


def flow_colors(flow: np.ndarray, max_magnitude: float) -> np.ndarray:
  """(H, W, 2+) flow (dx, dy) -> (H, W, 3) RGB in [0, 1]: hue = direction, saturation =
  magnitude / ``max_magnitude`` (white: no motion)."""
  dx, dy = flow[..., 0], flow[..., 1]
  hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
  saturation = np.clip(np.hypot(dx, dy) / max(max_magnitude, 1e-6), 0.0, 1.0)
  return hsv_to_rgb(np.stack([hue, saturation, np.ones_like(hue)], axis=-1))


def iframe_row(codec: PFrameCodec, rgb: np.ndarray) -> tuple[dict[str, Any], np.ndarray]:
  """An I frame's row of the analysis, and its decoded frame."""
  out = codec.compress_iframe(tf.constant(rgb))
  decoded, bits = out["image"].numpy(), 8 * int(tf.reduce_sum(tf.strings.length(out["strings"])))
  return {"type": "I", "bits": bits, "bpp": bits / (rgb.shape[0] * rgb.shape[1]),
          "psnr_decoded": psnr(rgb, decoded)}, decoded


def block_matching_psnr(codec: PFrameCodec, rgb: np.ndarray, reference: np.ndarray) -> float:
  """PSNR of ``reference`` warped (sharp, scale level 0) by the block-matching flow of
  ``rgb`` against it."""
  x, ref = (pad_to_multiple(tf.constant(a[None], tf.float32)) for a in (rgb, reference))
  flow = block_motion(x, ref)
  predicted = codec.warp(ref, tf.concat([flow, tf.zeros_like(flow[..., :1])], axis=-1))
  return psnr(rgb, predicted[0, :rgb.shape[0], :rgb.shape[1]].numpy())


def pframe_row(codec: PFrameCodec, rgb: np.ndarray, reference: np.ndarray
               ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
  """A P frame's row of the analysis, and the arrays of
  :meth:`~tfc_swin.codecs.video.PFrameCodec.analyze_pframe` (decoded ``image``, ...)."""
  out = {k: v.numpy() for k, v in
         codec.analyze_pframe(tf.constant(rgb), tf.constant(reference)).items()}
  pixels = rgb.shape[0] * rgb.shape[1]
  flow_bits, residual_bits = int(out["flow_bits"]), int(out["residual_bits"])
  magnitude = np.hypot(out["flow"][..., 0], out["flow"][..., 1])
  scale = np.clip(out["flow"][..., 2], 0.0, codec.warp.num_levels)  # what the warp uses
  return {"type": "P", "bits": flow_bits + residual_bits, "flow_bits": flow_bits,
          "residual_bits": residual_bits, "flow_bpp": flow_bits / pixels,
          "residual_bpp": residual_bits / pixels, "bpp": (flow_bits + residual_bits) / pixels,
          "psnr_copy": psnr(rgb, reference), "psnr_prediction": psnr(rgb, out["prediction"]),
          "psnr_block_matching": block_matching_psnr(codec, rgb, reference),
          "psnr_decoded": psnr(rgb, out["image"]), "flow_mean": float(magnitude.mean()),
          "flow_p95": float(np.percentile(magnitude, 95)), "scale_mean": float(scale.mean())
          }, out


def analyze(codec: PFrameCodec, frames: Iterable[np.ndarray], gop_size: int, figure_frame: int
            ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray] | None]:
  """Codes the frames in low-delay P (each P frame from the previous decoded frame, as
  :class:`~tfc_swin.video.coder.VideoCoder` does); the per-frame rows and the arrays of
  ``figure_frame`` (None if there are fewer frames)."""
  rows, drawn, reference = [], None, None
  for index, rgb in enumerate(frames):
    if index % gop_size == 0:
      row, decoded = iframe_row(codec, rgb)
      print(f"frame {index} I: {row['bpp']:.4f} bpp, decoded {row['psnr_decoded']:.2f} dB")
    else:
      row, out = pframe_row(codec, rgb, reference)
      decoded = out["image"]
      if index == figure_frame:
        drawn = {"reference": reference, "frame": rgb, **out}
      print(f"frame {index} P: flow {row['flow_bpp']:.4f} + residual {row['residual_bpp']:.4f}"
            f" = {row['bpp']:.4f} bpp; copy {row['psnr_copy']:.2f} dB, prediction "
            f"{row['psnr_prediction']:.2f} dB (block matching {row['psnr_block_matching']:.2f}"
            f" dB), decoded {row['psnr_decoded']:.2f} dB; |flow| "
            f"mean {row['flow_mean']:.3f} px, p95 {row['flow_p95']:.3f} px; scale "
            f"{row['scale_mean']:.3f}")
    rows.append({"index": index, **row})
    reference = decoded
  return rows, drawn


def mean_pframe(rows: list[dict[str, Any]]) -> dict[str, float] | None:
  """The mean of every column over the P frames (None without P frames)."""
  pframes = [r for r in rows if r["type"] == "P"]
  if not pframes:
    return None
  return {key: math.fsum(r[key] for r in pframes) / len(pframes) for key, _, _ in COLUMNS}


def table(rows: list[dict[str, Any]], mean: dict[str, float] | None) -> str:
  """Markdown: one row per frame (I frames: bpp and decoded PSNR), then the P-frame mean."""
  cell = lambda row, key, fmt: format(row[key], fmt) if key in row else "-"  # noqa: E731
  lines = ["| frame | type | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
           "|---" * (len(COLUMNS) + 2) + "|"]
  for row in rows:
    lines.append(f"| {row['index']} | {row['type']} | "
                 + " | ".join(cell(row, k, f) for k, _, f in COLUMNS) + " |")
  if mean is not None:
    lines.append("| **mean** | P | " + " | ".join(cell(mean, k, f) for k, _, f in COLUMNS)
                 + " |")
  return "\n".join(lines) + "\n"


def plot_pframe(path: str, title: str, drawn: dict[str, np.ndarray], num_levels: int) -> None:
  """Reference, frame, prediction, flow (colour), scale map and |frame - prediction|."""
  flow = drawn["flow"]
  largest = float(np.hypot(flow[..., 0], flow[..., 1]).max())
  error = np.abs(drawn["frame"].astype(np.float64) - drawn["prediction"]).mean(axis=-1)
  figure = Figure(figsize=(13, 7))
  panels = figure.subplots(2, 3)
  for axes, image, label in zip(
      panels[0], (drawn["reference"], drawn["frame"], np.clip(drawn["prediction"], 0, 255)),
      ("reference (previous decoded frame)", "frame", "prediction (warped reference)")):
    axes.imshow(image.astype(np.uint8))
    axes.set_title(label)
  panels[1, 0].imshow(flow_colors(flow, largest))
  panels[1, 0].set_title(f"flow (hue: direction, saturation: |flow| / {largest:.2f} px)")
  shown = panels[1, 1].imshow(np.clip(flow[..., 2], 0, num_levels), cmap="viridis", vmin=0,
                              vmax=num_levels)
  panels[1, 1].set_title("scale level")
  figure.colorbar(shown, ax=panels[1, 1], fraction=0.04)
  shown = panels[1, 2].imshow(error, cmap="magma")
  panels[1, 2].set_title("|frame - prediction| (mean over RGB)")
  figure.colorbar(shown, ax=panels[1, 2], fraction=0.04)
  for axes in panels.flat:
    axes.set_axis_off()
  figure.suptitle(title)
  figure.tight_layout()
  FigureCanvasAgg(figure).print_png(path)


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  if FLAGS.gop_size < 2 or FLAGS.max_frames < 2:
    raise app.UsageError("--gop_size and --max_frames must be at least 2 (no P frames)")
  if not 0 < FLAGS.figure_frame < FLAGS.max_frames or FLAGS.figure_frame % FLAGS.gop_size == 0:
    raise app.UsageError(f"--figure_frame {FLAGS.figure_frame} is not a P frame of the first "
                         f"{FLAGS.max_frames} frames with --gop_size {FLAGS.gop_size}")
  try:
    source = open_frames(FLAGS.sequence, *parse_size(FLAGS.size))
    codec, name = load_codec(FLAGS.model, FLAGS.checkpoint, FLAGS.quality)
  except (ValueError, FFmpegError) as error:
    raise app.UsageError(str(error)) from error
  print(f"{FLAGS.sequence} ({source.width}x{source.height}) with {name}")
  rows, drawn = analyze(codec, itertools.islice(source, FLAGS.max_frames), FLAGS.gop_size,
                        FLAGS.figure_frame)
  if drawn is None:
    raise app.UsageError(f"--figure_frame {FLAGS.figure_frame}: the sequence has only "
                         f"{len(rows)} frames")
  mean = mean_pframe(rows)
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  fileio.write_json(os.path.join(FLAGS.output_dir, "analysis.json"), {
      "sequence": FLAGS.sequence, "model": name, "config": codec.config.name,
      "width": source.width, "height": source.height, "gop_size": FLAGS.gop_size,
      "num_levels": codec.warp.num_levels, "frames": rows, "mean_pframe": mean})
  text = table(rows, mean)
  fileio.write_text(os.path.join(FLAGS.output_dir, "analysis.md"),
                    f"P-frame anatomy of {FLAGS.sequence} with {name}\n\n{text}")
  plot_pframe(os.path.join(FLAGS.output_dir, f"pframe_{FLAGS.figure_frame}.png"),
              f"{os.path.basename(os.path.normpath(FLAGS.sequence))}, frame "
              f"{FLAGS.figure_frame}, {name}", drawn, codec.warp.num_levels)
  print(text)


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  flags.mark_flags_as_required(["sequence", "model", "output_dir"])  # here: tests import it
  main()
