"""P-frame video evaluation: our codecs and the x264 / x265 anchors on the same frames
(Zhu et al. 2022 sec. 4.1, App. B.2.2, C.2 and D.2 Fig. 17-18).

  python experiments/evaluate_video.py --sequences data/uvg/Beauty_1920x1080_120fps.yuv \
      --size 1920x1080 --frame_rate 120 --output_dir results/video \
      --models SwinT-SSF=swint-ssf-cpu@runs/ssf_q1,SwinT-SSF=swint-ssf-cpu@runs/ssf_q2

A sequence is a folder of frames, a video file ffmpeg reads or a raw ``yuv420p`` file (with
``--size``). A model is ``[label=]MODEL[@checkpoint]``: a zoo video model (every quality of its
latest version: one RD curve), a SavedModel folder (``experiments/export_video.py``), a video
training run folder (its latest checkpoint), or a video config name with the weights of a
``tf.train.Checkpoint(model=codec)`` (untrained without one); models sharing a label form one
RD curve.
Every codec codes the same frames in low-delay P with a GOP of ``--gop_size`` (12 in the
paper). Per sequence: bpp (whole file), RGB PSNR and YUV 4:2:0 PSNR (6:1:1), the BD-rate of
each curve against x264 (paper App. C; per sequence, then averaged over the sequences that
have one) and an RD plot. Writes ``results.json``, ``bdrate.md`` and ``rd_<sequence>.png`` to
``--output_dir``.

``--merge A/results.json,B/results.json`` codes nothing: it puts the curves of earlier runs on
the same sequences, frames, GOP and anchor CRFs into one table and one plot per sequence (the
anchors of the first file; a label may come from one file only):

  python experiments/evaluate_video.py --output_dir results/video/summary --merge \
      results/video/swint-ssf-cpu-recipe2/results.json,results/video/conv-ssf-cpu-recipe2/results.json
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from absl import app, flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tfc_swin import api, fileio, zoo
from tfc_swin.codecs.video import build_video_codec
from tfc_swin.coder import ModelLoadError
from tfc_swin.configs import video_config_names
from tfc_swin.eval.bdrate import bd_rate
from tfc_swin.eval.plots import line_style
from tfc_swin.video.anchors import CRFS, run_anchor
from tfc_swin.video.coder import VideoCoder
from tfc_swin.video.frames import FrameSource, open_frames, parse_size
from tfc_swin.video.metrics import frame_metrics, sequence_metrics

FLAGS = flags.FLAGS
REFERENCE = "x264"
METRICS = ("psnr_rgb", "psnr_yuv")
flags.DEFINE_list("sequences", None, "Sequences: frame folders, video files or raw .yuv files.")
flags.DEFINE_string("size", None, "WIDTHxHEIGHT of the raw .yuv sequences.")
flags.DEFINE_string("frame_rate", None, "Frame rate (e.g. 30000/1001) if the source has none.")
flags.DEFINE_integer("max_frames", None, "Code only the first frames of each sequence.")
flags.DEFINE_list("models", [], "Our codecs, comma-separated: [label=]MODEL[@checkpoint] (a zoo "
                  "video model, SavedModel folder, video run folder, or config name).")
flags.DEFINE_list("anchors", ["x264", "x265"], "ffmpeg anchors (x264 is the BD-rate reference).")
flags.DEFINE_list("crfs", [str(c) for c in CRFS], "CRFs of the anchors (App. B.2.2).")
flags.DEFINE_integer("gop_size", 12, "Frames per GOP (one I frame, then P frames).")
flags.DEFINE_integer("anchor_threads", None, "Threads of x264 / x265 (default: ffmpeg's).")
flags.DEFINE_enum("metric", "psnr_rgb", list(METRICS), "Quality of the RD curves and BD-rates.")
flags.DEFINE_string("output_dir", None, "Folder for results.json, bdrate.md and the plots.")
flags.DEFINE_list("merge", [], "Code nothing: results.json files of earlier runs on the same "
                  "sequences and anchors, whose curves go into one table and plot per sequence.")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  label: str
  model: str  # zoo video model, SavedModel or run folder, or video config name
  checkpoint: str | None = None


def parse_model_spec(spec: str) -> ModelSpec:
  """``[label=]MODEL[@checkpoint]``; the label defaults to the model's name (a folder's last
  component)."""
  head, _, checkpoint = spec.partition("@")
  label, _, model = head.rpartition("=")
  if not model:
    raise ValueError(f"model spec {spec!r}: expected [label=]MODEL[@checkpoint]")
  return ModelSpec(label or os.path.basename(os.path.normpath(model)), model, checkpoint or None)


def load_coders(spec: ModelSpec) -> list[VideoCoder]:
  """The coders of a model spec: every quality of a zoo video model; a SavedModel or run
  folder (:func:`tfc_swin.api.load_video_coder`); a config's fresh or checkpoint weights."""
  if spec.model not in video_config_names():
    if spec.checkpoint:
      raise ValueError(f"model spec {spec.model}@{spec.checkpoint}: a checkpoint goes with "
                       f"a video config name ({', '.join(video_config_names())})")
    if spec.model in zoo.available_models(zoo.VIDEO_MODEL_KIND):
      return [zoo.load_video(spec.model, q) for q in zoo.qualities(spec.model)]
    return [api.load_video_coder(spec.model)]
  codec = build_video_codec(spec.model)
  name = f"untrained/{spec.model}"
  if spec.checkpoint:
    name = f"{spec.model}@{codec.restore(spec.checkpoint)}"
  return [VideoCoder.from_codec(codec, name)]


def evaluate_model(coder: VideoCoder, source: FrameSource, work_dir: str) -> dict[str, Any]:
  """Codes the sequence to a file, decodes it and measures every frame (streaming)."""
  limit, path = FLAGS.max_frames, os.path.join(work_dir, "sequence.tfsv")
  stats = coder.compress(itertools.islice(source, limit), path, FLAGS.gop_size,
                         FLAGS.frame_rate or source.frame_rate, force=True)
  decode_seconds: list[float] = []
  decoded = coder.decompress(path, progress=lambda s: decode_seconds.append(s.seconds))
  frames = [frame_metrics(i, rgb, out, s.num_bytes, original_yuv=planes,
                          frame_type=s.frame_type)
            for i, (rgb, planes, out, s) in enumerate(zip(
                itertools.islice(source, limit), itertools.islice(source.iter_yuv(), limit),
                decoded, stats.frames, strict=True))]
  os.unlink(path)
  summary = sequence_metrics(frames, source.height, source.width, stats.file_bytes)
  per_frame = [{"type": f.frame_type, "bits": 8 * f.num_bytes, "bpp": f.bpp,
                "psnr_rgb": f.psnr_rgb, "psnr_yuv": f.psnr_yuv, "encode_seconds": s.seconds,
                "decode_seconds": d}
               for f, s, d in zip(frames, stats.frames, decode_seconds, strict=True)]
  return {"model": coder.name, "file_bytes": stats.file_bytes, **_quality(summary),
          "encode_seconds": stats.seconds, "decode_seconds": sum(decode_seconds),
          "frames": per_frame}


def _quality(summary: Any) -> dict[str, Any]:
  return {"num_frames": summary.num_frames, "bpp": summary.bpp, "psnr_rgb": summary.psnr_rgb,
          "psnr_yuv": summary.psnr_yuv, "psnr_y": summary.psnr_y, "psnr_u": summary.psnr_u,
          "psnr_v": summary.psnr_v}


def anchor_curve(source: FrameSource, codec: str, work_dir: str) -> list[dict[str, Any]]:
  results = run_anchor(source, codec, [int(c) for c in FLAGS.crfs],
                       frame_rate=FLAGS.frame_rate, max_frames=FLAGS.max_frames,
                       gop_size=FLAGS.gop_size, threads=FLAGS.anchor_threads,
                       work_dir=work_dir)
  return [{"crf": r.crf, "encoder": r.encoder, "file_bytes": r.file_bytes, **_quality(r)}
          for r in results]


def bd_rates(curves: dict[str, list[dict[str, Any]]], metric: str
             ) -> tuple[dict[str, float | None], dict[str, str]]:
  """BD-rate (%) of every curve against x264, and why some have none."""
  reference = curves[REFERENCE]
  values, errors = {}, {}
  for label, points in curves.items():
    if label == REFERENCE:
      continue
    try:
      values[label] = bd_rate([p["bpp"] for p in reference], [p[metric] for p in reference],
                              [p["bpp"] for p in points], [p[metric] for p in points])
    except ValueError as error:
      values[label], errors[label] = None, str(error)
  return values, errors


def plot_rd(path: str, title: str, curves: dict[str, list[dict[str, Any]]], metric: str
            ) -> None:
  """One RD plot: the anchors in greys (solid, dashed, ...), our curves in colours."""
  figure = Figure(figsize=(6, 4.5))
  axes = figure.add_subplot()
  anchors = [label for label, points in curves.items() if is_anchor(points)]
  ours = [label for label in curves if label not in anchors]
  styles = {label: {"color": "0.25", "linestyle": ("-", "--", ":", "-.")[i % 4],
                    "markersize": 4} for i, label in enumerate(anchors)}
  styles |= {label: line_style(i) for i, label in enumerate(ours)}
  for label in anchors + ours:
    points = sorted(curves[label], key=lambda p: p["bpp"])
    axes.plot([p["bpp"] for p in points], [p[metric] for p in points], marker="o",
              label=label, **styles[label])
  axes.set(title=title, xlabel="bpp", ylabel=f"{metric.replace('_', ' ').upper()} (dB)")
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  FigureCanvasAgg(figure).print_png(path)


def average_bd_rates(sequences: dict[str, Any]) -> dict[str, dict[str, Any]]:
  """Mean BD-rate per codec over the sequences that have one (paper App. C.2)."""
  found: dict[str, list[float]] = {}
  for result in sequences.values():
    for label, value in result["bd_rate"].items():
      found.setdefault(label, [])
      if value is not None:
        found[label].append(value)
  return {label: {"mean": math.fsum(v) / len(v) if v else None, "sequences": len(v)}
          for label, v in found.items()}


def bd_table(sequences: dict[str, Any], averages: dict[str, dict[str, Any]]) -> str:
  """Markdown: BD-rate vs x264 per sequence and on average (like the paper's Fig. 17-18)."""
  labels = list(averages)
  cell = lambda v: "n/a" if v is None else f"{v:+.1f}%"  # noqa: E731
  lines = ["| sequence | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
  for name, result in sequences.items():
    lines.append(f"| {name} | " + " | ".join(cell(result["bd_rate"].get(l)) for l in labels)
                 + " |")
  lines.append("| **average** | " + " | ".join(cell(averages[l]["mean"]) for l in labels)
               + " |")
  return "\n".join(lines) + "\n"


def evaluate_sequence(path: str, coders: list[tuple[str, VideoCoder]]) -> dict[str, Any]:
  source = open_frames(path, *parse_size(FLAGS.size), FLAGS.frame_rate)
  curves: dict[str, list[dict[str, Any]]] = {}
  with tempfile.TemporaryDirectory(prefix="tfc_swin-video-eval-") as work_dir:
    for label, coder in coders:
      curves.setdefault(label, []).append(evaluate_model(coder, source, work_dir))
      point = curves[label][-1]
      print(f"  {label} [{coder.name}]: {point['bpp']:.4f} bpp, "
            f"{point['psnr_rgb']:.2f} dB RGB, {point['psnr_yuv']:.2f} dB YUV")
    for codec in FLAGS.anchors:
      curves[codec] = anchor_curve(source, codec, work_dir)
  return {"path": path, "width": source.width, "height": source.height,
          "num_frames": curves[FLAGS.anchors[0]][0]["num_frames"], "curves": curves}


def sequence_names(paths: list[str]) -> list[str]:
  """File stems (folder names), made unique with a suffix."""
  names: list[str] = []
  for path in paths:
    stem = Path(path.rstrip("/")).stem
    names.append(stem if stem not in names else f"{stem}_{len(names)}")
  return names


def is_anchor(points: list[dict[str, Any]]) -> bool:
  """Whether a curve of a results file is an ffmpeg anchor (its points carry a CRF)."""
  return all("crf" in p for p in points)


def same_points(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
  """Whether two anchor curves agree (rates within 0.1%, PSNRs within 0.01 dB)."""
  return len(a) == len(b) and all(
      math.isclose(p["bpp"], q["bpp"], rel_tol=1e-3)
      and all(abs(p[m] - q[m]) <= 0.01 for m in METRICS) for p, q in zip(a, b))


def merge_results(paths: list[str]) -> dict[str, Any]:
  """The results of several ``results.json`` files as one: the same sequences (names, sizes,
  frame counts), GOP size, anchor CRFs and x264 points in each; anchors from the first file;
  every other label from one file only. Raises ValueError when they do not fit together."""
  loaded = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
  first, sequences, origin = loaded[0], {}, {}
  for name, result in first["sequences"].items():
    sequences[name] = {k: result[k] for k in ("path", "width", "height", "num_frames")}
    sequences[name]["curves"] = dict(result["curves"])
  for path, results in zip(paths, loaded, strict=True):
    for key in ("gop_size", "crfs"):
      if results[key] != first[key]:
        raise ValueError(f"{path}: {key} {results[key]} differs from {paths[0]}'s {first[key]}")
    if set(results["sequences"]) != set(sequences):
      raise ValueError(f"{path}: sequences {sorted(results['sequences'])} differ from "
                       f"{paths[0]}'s {sorted(sequences)}")
    for name, result in results["sequences"].items():
      for key in ("width", "height", "num_frames"):
        if result[key] != sequences[name][key]:
          raise ValueError(f"{path}: {name} has {key} {result[key]}, {paths[0]} "
                           f"{sequences[name][key]}")
      reference = first["sequences"][name]["curves"][REFERENCE]
      if not same_points(result["curves"][REFERENCE], reference):
        raise ValueError(f"{path}: the {REFERENCE} curve of {name} differs from {paths[0]}'s "
                         f"(other frames, CRFs or {REFERENCE} build)")
      for label, points in result["curves"].items():
        if is_anchor(points) or results is first:
          continue
        if label in sequences[name]["curves"]:
          raise ValueError(f"{path}: curve {label!r} of {name} is also in "
                           f"{origin.get(label, paths[0])}")
        sequences[name]["curves"][label] = points
        origin[label] = path
  return {"gop_size": first["gop_size"], "crfs": first["crfs"], "sequences": sequences,
          "merged_from": list(paths)}


def write_results(sequences: dict[str, Any], record: dict[str, Any]) -> None:
  """BD-rates, plots, results.json and bdrate.md of evaluated ``sequences`` (each with its
  ``curves``) in --output_dir; ``record`` goes into results.json as well."""
  os.makedirs(FLAGS.output_dir, exist_ok=True)
  for name, result in sequences.items():
    curves = result["curves"]
    result["curves"] = {label: curves[label] for label in sorted(
        curves, key=lambda label: not is_anchor(curves[label]))}  # anchors first, stable
    result["bd_rate"], result["bd_rate_errors"] = bd_rates(result["curves"], FLAGS.metric)
    plot_rd(os.path.join(FLAGS.output_dir, f"rd_{name}.png"), name, result["curves"],
            FLAGS.metric)
  averages = average_bd_rates(sequences)
  fileio.write_json(os.path.join(FLAGS.output_dir, "results.json"), {
      "metric": FLAGS.metric, "reference": REFERENCE, **record, "sequences": sequences,
      "average_bd_rate": averages})
  table = bd_table(sequences, averages)
  fileio.write_text(os.path.join(FLAGS.output_dir, "bdrate.md"), table)
  print(table)


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  if FLAGS.merge:
    if FLAGS.sequences or FLAGS.models:
      raise app.UsageError("--merge takes no --sequences or --models")
    try:
      merged = merge_results(FLAGS.merge)
    except (OSError, ValueError, KeyError) as error:
      raise app.UsageError(f"--merge: {error}") from error
    write_results(merged.pop("sequences"), merged)
    return
  if not FLAGS.sequences:
    raise app.UsageError("--sequences (or --merge) is required")
  if REFERENCE not in FLAGS.anchors:
    raise app.UsageError(f"--anchors must include {REFERENCE} (the BD-rate reference)")
  try:
    specs = [parse_model_spec(s) for s in FLAGS.models]
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  try:
    coders = [(spec.label, coder) for spec in specs for coder in load_coders(spec)]
  except (ValueError, ModelLoadError) as error:
    raise app.UsageError(str(error)) from error
  sequences = {}
  for name, path in zip(sequence_names(FLAGS.sequences), FLAGS.sequences):
    print(f"{name}: {path}")
    sequences[name] = evaluate_sequence(path, coders)
  write_results(sequences, {"gop_size": FLAGS.gop_size, "crfs": [int(c) for c in FLAGS.crfs],
                            "models": [dataclasses.asdict(s) for s in specs]})


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  flags.mark_flags_as_required(["output_dir"])  # here: tests import the module
  main()
