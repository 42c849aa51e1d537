"""AICT encode / decode time against the scale s (Ghorbel et al. 2023, sec. 3.3 and 4.6).

  python experiments/aict_scale_timing.py --model aict-cpu --images ../shared/data/kodak \
      --num_images 3 --scales 0.25,0.5,0.75,1.0 --output results/aict/scale_timing.md

Every image is coded at each forced s (``compress_at_scale``: the resize network is bypassed,
s is snapped to the file's grid, s >= skip_above codes the full image with the module skipped)
and at the s the resize network predicts (``compress``), then decoded. Times are medians of
``--repeats`` timed calls after ``--warmup`` untimed ones (the graphs are traced before). The
float32 matmul GFLOP/s of this machine is measured in the same run before each image; with
``--macs`` each time is also given as a multiple of its compute floor (effective MACs x 2 /
GFLOP/s; MACs of the inner codec's modules at the canvas plus the ConvNeXt pre-processor
(encoder) or post-processor (decoder) at full size when the module runs; the resize network
and the bicubic resampling are not counted).

``--model``: a config name (untrained weights, seed 0), a zoo model (``--quality``, default
its highest), an exported SavedModel folder or a training run. Writes a markdown report and a
JSON file (``--json``, default: the output with .json).
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from absl import app, flags

from tfc_swin import fileio, image_io, zoo
from tfc_swin.codecs import build_codec, restore_codec
from tfc_swin.codecs.scale_adaptive import ScaleAdaptiveCodec
from tfc_swin.configs import config_names
from tfc_swin.eval.metrics import psnr
from tfc_swin.eval.tables import markdown_table
from tfc_swin.profiling import complexity, timing
from tfc_swin.training.warm_start import load_source

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "aict-cpu", "Config name, zoo model, SavedModel folder or run.")
flags.DEFINE_integer("quality", None, "Zoo quality (default: the highest).")
flags.DEFINE_string("images", "../shared/data/kodak", "Image folder (whole images, sorted).")
flags.DEFINE_integer("num_images", 3, "Number of (sorted) images to time.")
flags.DEFINE_list("scales", ["0.25", "0.5", "0.75", "1.0"], "Forced scales s.")
flags.DEFINE_integer("repeats", 3, "Timed calls per measurement; the median is reported.")
flags.DEFINE_integer("warmup", 1, "Untimed calls per measurement (at least 1).")
flags.DEFINE_integer("gflops_size", 2048, "Side of the square matmul measuring GFLOP/s.")
flags.DEFINE_bool("macs", True, "Count MACs for the compute floors (traces the modules once "
                  "per canvas size).")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0: TF default, all cores).")
flags.DEFINE_string("output", "results/aict/scale_timing.md", "Markdown report path.")
flags.DEFINE_string("json", None, "JSON results path (default: --output with .json).")


def load_codec(spec: str, quality: int | None) -> tuple[ScaleAdaptiveCodec, str]:
  """(codec, model name) of a config name, zoo model, SavedModel folder or training run."""
  if spec in config_names():
    tf.keras.utils.set_random_seed(0)
    return build_codec(spec), f"untrained/{spec}/seed0"
  if spec in zoo.models():
    version, records = zoo.version_records(spec)
    quality = quality or max(int(q) for q in records)
    return (restore_codec(os.path.join(zoo.root(), spec, version, f"q{quality}")),
            f"{spec}/{version}/q{quality}")
  return load_source(spec)[0], os.path.normpath(spec)


def _timed(fn: Callable[[], Any]) -> tuple[list[float], Any]:
  """``--warmup`` untimed calls, then the wall times of ``--repeats`` calls and the output."""
  out = None
  for _ in range(max(1, FLAGS.warmup)):
    out = fn()
  times = []
  for _ in range(FLAGS.repeats):
    start = time.perf_counter()
    out = fn()
    times.append(time.perf_counter() - start)
  return times, out


class _Floors:
  """Effective MACs of the encoder / decoder per (image size, canvas, module skipped)."""

  def __init__(self, codec: ScaleAdaptiveCodec):
    self.codec = codec
    self._cache: dict[tuple, tuple[int, int]] = {}

  def macs(self, size: tuple[int, int], canvas: tuple[int, int], skipped: bool
           ) -> tuple[int, int]:
    key = (size, canvas, skipped)
    if key not in self._cache:
      m = complexity.module_macs(self.codec, *canvas)
      encode = sum(m[k].effective for k in complexity.ENCODER_MODULES)
      decode = sum(m[k].effective for k in complexity.DECODER_MODULES)
      if not skipped:
        spec = [tf.TensorSpec([1, *size, 3], tf.float32)]
        encode += complexity.count_macs(self.codec.pre_processor, spec).effective
        decode += complexity.count_macs(self.codec.post_processor, spec).effective
      self._cache[key] = (encode, decode)
    return self._cache[key]


def measure(codec: ScaleAdaptiveCodec, name: str, image: np.ndarray, scale: float | None,
            gflops: float, floors: _Floors | None) -> dict[str, Any]:
  """One record: encode and decode times of ``image`` at a forced ``scale`` (None: the
  predicted s)."""
  if scale is None:
    encode, out = _timed(lambda: codec.compress(image))
  else:
    encode, out = _timed(lambda: codec.compress_at_scale(image, scale))
  decode, decoded = _timed(lambda: codec.decompress(out["strings"], out["shape"]))
  strings = out["strings"].numpy()
  code = int(strings[0][0])
  canvas = tuple(int(v) for v in codec.canvas_shape(image.shape[:2], code).numpy())
  num_bytes = sum(len(s) for s in strings)
  record = {
      "image": name, "height": image.shape[0], "width": image.shape[1],
      "requested": "predicted" if scale is None else scale, "code": code,
      "scale": float(codec.scale_from_code(code)), "canvas": list(canvas),
      "encode_s": statistics.median(encode), "decode_s": statistics.median(decode),
      "encode_samples": encode, "decode_samples": decode, "bytes": num_bytes,
      "bpp": 8 * num_bytes / (image.shape[0] * image.shape[1]),
      "psnr": psnr(image, decoded["image"].numpy()), "gflops": gflops,
      "checksum_match": int(out["index_checksum"]) == int(decoded["index_checksum"])}
  if floors is not None:
    encode_macs, decode_macs = floors.macs(image.shape[:2], canvas, code == 0)
    record.update(encode_macs=encode_macs, decode_macs=decode_macs,
                  encode_floor_s=timing.compute_floor(encode_macs, gflops),
                  decode_floor_s=timing.compute_floor(decode_macs, gflops))
  return record


def _ms(record: dict[str, Any], kind: str) -> str:
  text = f"{record[f'{kind}_s'] * 1e3:.1f}"
  floor = record.get(f"{kind}_floor_s")
  return text + (f" ({record[f'{kind}_s'] / floor:.1f}x)" if floor else "")


def _row(r: dict[str, Any]) -> list[Any]:
  requested = r["requested"] if r["requested"] == "predicted" else f"{r['requested']:g}"
  return [r["image"], f"{r['width']}x{r['height']}", requested, r["code"],
          f"{r['scale']:.4f}", f"{r['canvas'][1]}x{r['canvas'][0]}", _ms(r, "encode"),
          _ms(r, "decode"), r["bytes"], f"{r['bpp']:.4f}", f"{r['psnr']:.2f}",
          f"{r['gflops']:.0f}", r["checksum_match"]]


def _summary(records: list[dict[str, Any]]) -> list[list[Any]]:
  """Per requested scale: median times over images and their ratio to those at s = 1."""
  groups: dict[Any, list[dict[str, Any]]] = {}
  for r in records:
    groups.setdefault(r["requested"], []).append(r)

  def median(rs, key):
    return statistics.median(r[key] for r in rs)

  def ratio(rs, key):
    return f"{median(rs, key) / median(groups[1.0], key):.2f}" if 1.0 in groups else "-"

  return [[req if req == "predicted" else f"{req:g}", f"{median(rs, 'scale'):.4f}",
           f"{median(rs, 'encode_s') * 1e3:.1f}", ratio(rs, "encode_s"),
           f"{median(rs, 'decode_s') * 1e3:.1f}", ratio(rs, "decode_s"),
           f"{median(rs, 'bpp'):.4f}"] for req, rs in groups.items()]


def report(model: str, records: list[dict[str, Any]]) -> str:
  """Markdown: the per-scale summary, then one row per image and scale."""
  gflops = [r["gflops"] for r in records]
  return "\n".join([
      f"# AICT coding time against the scale s: {model}", "",
      f"Batch 1, TF CPU, median of {FLAGS.repeats} timed calls after {FLAGS.warmup} untimed "
      "(graphs traced first). `predicted`: compress() with the resize network's s; numbers: "
      "compress_at_scale() at a forced s (snapped to the grid; code 0 = module skipped, the "
      "image coded at full size). Times in ms; in brackets the multiple of the compute floor "
      "(effective MACs of the inner codec at the canvas plus the ConvNeXt processor at full "
      "size, x 2 / the float32 matmul GFLOP/s measured before each image). "
      f"GFLOP/s in this run: {min(gflops):.0f}-{max(gflops):.0f}.", "",
      "## Median over images", "",
      markdown_table(["s requested", "s (median)", "encode ms", "vs s=1", "decode ms",
                      "vs s=1", "bpp (median)"], _summary(records)), "",
      "## Per image", "",
      markdown_table(["image", "size", "s requested", "code", "s", "canvas", "encode ms",
                      "decode ms", "bytes", "bpp", "PSNR", "GFLOP/s", "checksum ok"],
                     [_row(r) for r in records]), ""])


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  try:
    scales = [float(s) for s in FLAGS.scales]
  except ValueError as error:
    raise app.UsageError(f"bad --scales {FLAGS.scales}") from error
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  codec, model = load_codec(FLAGS.model, FLAGS.quality)
  if not isinstance(codec, ScaleAdaptiveCodec):
    raise app.UsageError(f"{FLAGS.model} ({codec.config.name}) is not an AICT model")
  if not codec.prepared:
    codec.prepare_for_compression()
  floors = _Floors(codec) if FLAGS.macs else None
  output = Path(FLAGS.output)
  json_path = Path(FLAGS.json) if FLAGS.json else output.with_suffix(".json")
  records = []
  for path in image_io.list_images(FLAGS.images, FLAGS.num_images):
    image = image_io.read_rgb(path)
    gflops = timing.matmul_gflops(FLAGS.gflops_size)["gflops"]
    for scale in scales + [None]:
      records.append(measure(codec, path.name, image, scale, gflops, floors))
      r = records[-1]
      print(f"{path.name} s={r['requested']}: code {r['code']} canvas {r['canvas']} encode "
            f"{r['encode_s'] * 1e3:.1f} ms decode {r['decode_s'] * 1e3:.1f} ms "
            f"{r['bpp']:.4f} bpp ({gflops:.0f} GFLOP/s)", flush=True)
  fileio.write_text(json_path, json.dumps({"model": model, "config": codec.config.to_dict(),
                                           "records": records}, indent=1))
  fileio.write_text(output, report(model, records))
  print(f"wrote {output} and {json_path}")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
