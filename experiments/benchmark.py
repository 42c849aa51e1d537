"""CPU coding speed per stage, like Zhu et al. Tables 3-6, next to this machine's floors.

  python experiments/benchmark.py --models swint-hyperprior,conv-hyperprior \
      --sizes 768x512,1280x768 --repeats 3 --warmup 1 --output results/benchmark/cpu.md

Two floors per stage: the matmul floor (effective MACs x 2 / the float32 matmul GFLOP/s) and,
with --memory_floor (default), the matmul floor plus a memory term: the bytes the stage's
non-matmul ops read and write (tfc_swin.profiling.complexity.stage_bytes) / the GB/s of TF
elementwise work (tfc_swin.profiling.timing.memory_bandwidth), both measured in the same run.

Config names get fresh random weights (timing only); ``zoo:NAME/VERSION/qQ`` entries time a
shipped model with its trained weights (the entropy-coding stages depend on the bit rate).
Suffixes set coding options (``ImageCodec.CODING_OPTIONS``): ``@plain`` or ``@fused`` times
g_a / g_s without / with XLA-fused LayerNorm and GELU (``fused_elementwise``: off for fresh
codecs, shipped models as exported), ``@bfloat16`` with bfloat16 matmuls (``bfloat16_matmuls``;
floors stay float32), ``@float32`` with h_s and the ChARM networks in float32 instead of
float64 (``float32_entropy_parameters``: the time float64 costs; such files may not decode on
other machines, docs/robustness.md); suffixes combine (``zoo:.../q2@fused@bfloat16@float32``).
Records already in the JSON output are kept and not re-measured, so several runs (e.g. other
sizes for other models) fill one report.
See docs/complexity.md.
"""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import tensorflow as tf
from absl import app, flags

from tfc_swin import fileio, zoo
from tfc_swin.codecs import ImageCodec, build_codec, restore_codec
from tfc_swin.codecs.image import set_coding_options
from tfc_swin.configs import config_names
from tfc_swin.profiling import complexity, timing

FLAGS = flags.FLAGS
ZOO_PREFIX = "zoo:"
#: Suffixes that set coding options (``ImageCodec.CODING_OPTIONS``).
OPTION_SUFFIXES = {"@fused": dict(fused_elementwise=True), "@plain": dict(fused_elementwise=False),
                   "@bfloat16": dict(bfloat16_matmuls=True),
                   "@float32": dict(float32_entropy_parameters=True)}
flags.DEFINE_list("models", ["conv-hyperprior", "conv-charm", "swint-hyperprior", "swint-charm",
                             "conv-hyperprior-cpu", "conv-charm-cpu", "swint-hyperprior-cpu",
                             "swint-charm-cpu"], "Config names to benchmark (random weights), or "
                  "zoo:NAME/VERSION/qQ for a shipped model's trained weights.")
flags.DEFINE_list("sizes", ["768x512", "1280x768", "1792x1024"], "Image sizes WIDTHxHEIGHT.")
flags.DEFINE_integer("height", None, "Single image height (with --width; overrides --sizes).")
flags.DEFINE_integer("width", None, "Single image width (with --height; overrides --sizes).")
flags.DEFINE_integer("repeats", 5, "Timed calls per stage; the median is reported.")
flags.DEFINE_integer("warmup", 1, "Untimed calls per stage after tracing.")
flags.DEFINE_string("images", "../shared/data/kodak",
                    "Image folder (centre crops; mirror-extended when too small). A synthetic "
                    "image is used if the folder does not exist.")
flags.DEFINE_integer("num_images", 1, "Number of (sorted) images to time.")
flags.DEFINE_integer("gflops_size", 2048, "Side of the square matmul measuring GFLOP/s.")
flags.DEFINE_bool("memory_floor", True, "Count the bytes each stage's non-matmul ops move and "
                  "also report time / (matmul + memory) floor.")
flags.DEFINE_list("bandwidth_mib", ["16", "128", "1024"], "Sizes (MiB) of the float32 tensors "
                  "measuring the GB/s of elementwise work (--memory_floor); the best one counts, "
                  "so that the memory floor stays a lower bound for cache-sized tensors.")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0: TF default, all cores).")
flags.DEFINE_string("output", "results/benchmark/cpu.md", "Markdown report path.")
flags.DEFINE_string("json", None, "JSON results path (default: --output with .json).")
flags.DEFINE_bool("overwrite", False, "Re-measure the requested (model, size) records that "
                  "are already in the JSON output (others are kept).")


def _sizes() -> list[tuple[int, int]]:
  if FLAGS.height or FLAGS.width:
    if not (FLAGS.height and FLAGS.width):
      raise app.UsageError("--height and --width go together")
    return [(FLAGS.width, FLAGS.height)]
  try:
    return [tuple(int(v) for v in s.lower().split("x")) for s in FLAGS.sizes]
  except ValueError as error:
    raise app.UsageError(f"bad --sizes {FLAGS.sizes}: use WIDTHxHEIGHT") from error


def _build(model: str) -> ImageCodec:
  """A config name's codec with random weights, or a ``zoo:NAME/VERSION/qQ`` model, with the
  coding options of its :data:`OPTION_SUFFIXES`."""
  for suffix, options in OPTION_SUFFIXES.items():
    if model.endswith(suffix):
      codec = _build(model[:-len(suffix)])
      set_coding_options(codec, **options)
      return codec
  if model.startswith(ZOO_PREFIX):
    return restore_codec(os.path.join(zoo.root(), *model[len(ZOO_PREFIX):].split("/")))
  return build_codec(model)


def _base_name(model: str) -> str:
  """``model`` without its suffixes."""
  return model.split("@", 1)[0]


def _gflops() -> dict:
  measured = timing.matmul_gflops(FLAGS.gflops_size, repeats=5)
  print(f"matmul {FLAGS.gflops_size}^2 float32: {measured['gflops']:.1f} GFLOP/s", flush=True)
  return measured


def _bandwidth() -> dict:
  """The fastest of the --bandwidth_mib measurements (the others under ``sizes``)."""
  sizes = [timing.memory_bandwidth(int(mib), repeats=5) for mib in FLAGS.bandwidth_mib]
  for m in sizes:
    print(f"x * 3 + 1 on {m['mib']} MiB float32: {m['gbps']:.1f} GB/s", flush=True)
  return {**max(sizes, key=lambda m: m["gbps"]), "sizes": sizes}


def _memory_fields(counts: dict[str, complexity.ByteCount], gbps: float) -> dict:
  """A record's byte counts per stage (complexity.stage_bytes) and GB/s."""
  return {"gbps": gbps, "memory_bytes": {k: c.counted for k, c in counts.items()},
          "memory_unknown_tensors": {k: c.unknown_tensors for k, c in counts.items()},
          "memory_skipped_ops": {k: c.skipped_ops for k, c in counts.items()}}


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  unknown = [m for m in FLAGS.models
             if _base_name(m) not in config_names() and not m.startswith(ZOO_PREFIX)]
  if unknown:
    raise app.UsageError(f"unknown models {unknown}; known: {', '.join(config_names())}")
  sizes = _sizes()
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  output = Path(FLAGS.output)
  json_path = Path(FLAGS.json) if FLAGS.json else output.with_suffix(".json")
  records, gflops, bandwidth = [], [], []
  if json_path.exists():
    previous = json.loads(json_path.read_text())
    records, gflops = previous["records"], previous["gflops"]
    bandwidth = previous.get("bandwidth", [])
  first_new, first_new_bandwidth = len(gflops), len(bandwidth)
  done = set() if FLAGS.overwrite else {(r["model"], r["width"], r["height"]) for r in records}
  for model in FLAGS.models:
    todo = [(w, h) for w, h in sizes if (model, w, h) not in done]
    if not todo:
      continue
    codec = _build(model)
    codec.prepare_for_compression()
    for w, h in todo:
      images = timing.load_images(FLAGS.images, h, w, FLAGS.num_images)
      macs = complexity.module_macs(codec, h, w)
      counts = complexity.stage_bytes(codec, h, w) if FLAGS.memory_floor else None
      gflops.append(_gflops())  # just before the record: the load on the machine drifts
      if counts:
        bandwidth.append(_bandwidth())
      record = timing.benchmark_codec(codec, images, FLAGS.repeats, FLAGS.warmup)
      record.update(model=model, width=w, height=h, gflops=gflops[-1]["gflops"],
                    macs_effective={k: v.effective for k, v in macs.items()},
                    macs_paper={k: v.paper for k, v in macs.items()},
                    synthetic=images[0][0] == "synthetic")
      if counts:
        record.update(_memory_fields(counts, bandwidth[-1]["gbps"]))
      records = [r for r in records if (r["model"], r["width"], r["height"])
                 != (model, w, h)] + [record]
      print(f"{model} {w}x{h}: encode {record['encode_sum'] * 1e3:.0f} ms "
            f"(compress() {record['compress'] * 1e3:.0f}), decode "
            f"{record['decode_sum'] * 1e3:.0f} ms (decompress() "
            f"{record['decompress'] * 1e3:.0f}), {record['bpp']:.2f} bpp", flush=True)
      fileio.write_text(json_path, json.dumps({"records": records, "gflops": gflops,
                                               "bandwidth": bandwidth}, indent=1))
      fileio.write_text(output, _report(records))
  fileio.write_text(output, _report(records))  # also when every record was measured before
  _print_samples("GFLOP/s", "matmul", gflops[first_new:], "samples_gflops")
  _print_samples("GB/s", "x * 3 + 1", bandwidth[first_new_bandwidth:], "samples_gbps")
  print(f"wrote {output} and {json_path}")


def _print_samples(unit: str, what: str, measurements: list[dict], key: str) -> None:
  samples = [v for m in measurements for v in m[key]]
  if samples:
    print(f"{unit} in this run: median of the {what} samples {statistics.median(samples):.1f}, "
          f"range {min(samples):.1f}-{max(samples):.1f}")


def _report(records: list[dict]) -> str:
  header = (
      "# CPU coding speed per stage\n\n"
      "Random (untrained) weights, except `zoo:` models (trained); batch 1; each stage its "
      "own tf.function, traced, "
      "warmed up, median of the timed calls. Cells: ms (time / matmul floor, floor = "
      "effective MACs x 2 / the float32 matmul GFLOP/s of the GFLOP/s column, measured in "
      "the same run before the record; where the GB/s column is filled, then also time / "
      "(matmul + memory) floor, memory floor = bytes the stage's non-matmul ops read and "
      "write / the best GB/s of `x * 3 + 1` over the --bandwidth_mib tensor sizes, "
      "measured with the GFLOP/s; docs/complexity.md). "
      "Effective MACs: "
      "conv/Dense/attention MACs TF executes (transposed convs at input resolution). "
      "`compress()`/`decompress()`: the codec's end-to-end tf.functions. z coding includes "
      "decoding z again (as compress does); h_s is timed once and shown in both tables. "
      f"Images: {', '.join(sorted({n for r in records for n in r['images']}))} "
      "(centre crops, rotated to the target orientation and mirror-extended when smaller; "
      "`synthetic` = tfc_swin.profiling.timing.synthetic_image).\n\n")
  return header + timing.markdown_report(records)


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
