"""Coding speed: per-stage wall time of compress / decompress, the machine's GFLOP/s and GB/s.

The stages follow Zhu et al. 2022 Tables 3-6. Encoding: g_a, h_a, z coding (range-encode z
and decode it again, as ``compress`` does), h_s, y coding (incl. the ChARM networks).
Decoding: z decoding, h_s, y decoding (incl. ChARM), g_s. Range coding of y alone (the
ChARM networks excluded) is timed besides, for the entropy-coding share. Each stage is its own
``tf.function``, traced and warmed up before the timed calls; a stage's time is the median
over its timed calls. The end-to-end ``codec.compress`` / ``codec.decompress`` are timed the
same way, to check them against the sum of the stages.
"""
from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf

from tfc_swin import image_io
from tfc_swin.codecs import ImageCodec, pad_to_multiple
from tfc_swin.eval.tables import markdown_table

ENCODE_STAGES = ("g_a", "h_a", "z_coding", "h_s", "y_coding")
DECODE_STAGES = ("z_decoding", "h_s", "y_decoding", "g_s")
#: The complexity module (tfc_swin.profiling.complexity.MODULES) whose MACs a stage runs.
STAGE_MODULES = {"g_a": "g_a", "h_a": "h_a", "h_s": "h_s", "y_coding": "charm",
                 "y_decoding": "charm", "g_s": "g_s"}

#: Zhu et al. 2022 Tables 5-6: CPU times (ms) at 768x512 on a Xeon W-2123 (PyTorch 1.9).
PAPER_CPU_MS = {
    "conv-hyperprior": {
        "encode": dict(g_a=896.0, h_a=8.9, z_coding=2.7, h_s=20.9, y_coding=31.1, total=960.9),
        "decode": dict(z_decoding=5.1, h_s=20.9, y_decoding=30.5, g_s=1636.2, total=1703.3)},
    "swint-hyperprior": {
        "encode": dict(g_a=1781.6, h_a=14.5, z_coding=2.6, h_s=18.3, y_coding=29.7,
                       total=1847.9),
        "decode": dict(z_decoding=5.7, h_s=18.3, y_decoding=30.3, g_s=1912.8, total=1979.5)},
    "conv-charm": {
        "encode": dict(g_a=895.7, h_a=8.9, z_coding=2.5, h_s=20.9, y_coding=146.3,
                       total=1075.5),
        "decode": dict(z_decoding=4.7, h_s=20.9, y_decoding=154.6, g_s=1634.3, total=1825.6)},
    "swint-charm": {
        "encode": dict(g_a=1697.1, h_a=14.5, z_coding=2.6, h_s=18.2, y_coding=133.5,
                       total=1867.1),
        "decode": dict(z_decoding=5.8, h_s=18.2, y_decoding=141.1, g_s=1877.3, total=2054.7)},
}


def time_calls(fn: Callable[..., Any], args: Sequence[Any], repeats: int,
               warmup: int = 1) -> tuple[list[float], Any]:
  """Calls ``fn`` once untimed (a tf.function traces), then ``warmup`` untimed calls, then
  ``repeats`` timed ones.

  Returns the wall times in seconds and the last output. On CPU a tf.function call returns
  only when its outputs are computed, so no extra synchronization is needed.
  """
  if repeats < 1:
    raise ValueError("repeats must be >= 1")
  out = fn(*args)
  for _ in range(warmup):
    out = fn(*args)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    out = fn(*args)
    times.append(time.perf_counter() - start)
  return times, out


def matmul_gflops(size: int = 2048, repeats: int = 5, warmup: int = 1,
                  dtype: tf.DType = tf.float32) -> dict[str, Any]:
  """``size x size`` matmul throughput of this machine in ``dtype`` (float32; bfloat16 for the
  floor of bfloat16 coding), median over ``repeats``."""
  a = tf.cast(tf.random.stateless_uniform([size, size], seed=(1, 2)), dtype)
  b = tf.cast(tf.random.stateless_uniform([size, size], seed=(3, 4)), dtype)
  times, _ = time_calls(tf.function(tf.linalg.matmul), (a, b), repeats, warmup)
  flop = 2.0 * size ** 3
  return {"size": size, "gflops": flop / statistics.median(times) / 1e9,
          "samples_gflops": [flop / t / 1e9 for t in times]}


def scale_shift(x: tf.Tensor) -> tf.Tensor:
  """``x * 3 + 1``, the elementwise work :func:`memory_bandwidth` times: two ops (Mul, AddV2),
  each reading an ``x``-sized tensor and a scalar and writing an ``x``-sized tensor."""
  return x * 3.0 + 1.0


def memory_bandwidth(mib: int = 1024, repeats: int = 5, warmup: int = 1) -> dict[str, Any]:
  """GB/s of TF elementwise work: :func:`scale_shift` on a float32 tensor of ``mib`` MiB (median
  over ``repeats``).

  Bytes are counted as the memory floor counts them (``complexity.graph_bytes``): every op's
  inputs and outputs, i.e. about 4 x the tensor; TF may write AddV2's result in place.
  """
  x = tf.random.stateless_uniform([mib * 2 ** 20 // 4], seed=(5, 6))
  times, _ = time_calls(tf.function(scale_shift), (x,), repeats, warmup)
  moved = 2 * (2 * x.shape.num_elements() * 4 + 4)
  return {"mib": mib, "bytes": moved, "gbps": moved / statistics.median(times) / 1e9,
          "samples_gbps": [moved / t / 1e9 for t in times]}


# -- images ---------------------------------------------------------------------------------------
def cpu_name() -> str:
  """The CPU's model name (Linux ``/proc/cpuinfo``), else what :mod:`platform` says."""
  try:
    with open("/proc/cpuinfo") as f:
      return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    return platform.processor() or "unknown CPU"


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
  """A deterministic smooth RGB image with mild noise (uint8, ``height x width x 3``)."""
  rng = np.random.default_rng(seed)
  y, x = np.mgrid[0:height, 0:width]
  base = np.stack([128 + 90 * np.sin(x / 37 + c) * np.cos(y / 23 - c) for c in range(3)], -1)
  return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def fit_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
  """Centre crop to ``height x width``.

  The image is first rotated by 90 degrees if its orientation differs from the target's, then
  mirror-extended (symmetric padding, repeated as needed) if it is still too small.
  """
  h, w = image.shape[:2]
  if height != width and h != w and (h > w) != (height > width):
    image = np.rot90(image)
    h, w = w, h
  ph, pw = max(0, height - h), max(0, width - w)
  if ph or pw:
    image = np.pad(image, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)),
                   mode="symmetric")
  top = (image.shape[0] - height) // 2
  left = (image.shape[1] - width) // 2
  return np.ascontiguousarray(image[top:top + height, left:left + width])


def load_images(folder: str | None, height: int, width: int,
                count: int = 1) -> list[tuple[str, np.ndarray]]:
  """(name, uint8 image) centre crops of the first ``count`` images of ``folder``.

  Without a folder (None or missing) returns one :func:`synthetic_image`.
  """
  if not folder or not Path(folder).is_dir():
    return [("synthetic", synthetic_image(height, width))]
  return [(p.name, fit_image(image_io.read_rgb(p), height, width))
          for p in image_io.list_images(folder, count)]


# -- stages ---------------------------------------------------------------------------------------
def codec_stages(codec: ImageCodec) -> dict[str, tf.types.experimental.GenericFunction]:
  """One tf.function per coding stage; needs ``codec.prepare_for_compression()`` first
  (it builds the range-coding tables of ``codec.hyper_coder`` and of ``codec.prior``)."""
  return {
      "g_a": tf.function(codec.analysis),
      "h_a": tf.function(lambda y: codec.h_a(y)),
      "z_coding": tf.function(codec.code_hyper_latent),
      "h_s": tf.function(codec.entropy_parameters),  # h_s as compress runs it
      "y_coding": tf.function(codec.prior.compress),
      "z_decoding": tf.function(codec.hyper_coder.decompress),
      "y_decoding": tf.function(codec.prior.decompress),
      "g_s": tf.function(codec.synthesis),
      # Range coding of y alone, the prior's networks excluded (not part of the stage sums).
      "y_range_coding": tf.function(codec.prior.range_encode),
      "y_range_decoding": tf.function(codec.prior.range_decode),
  }


def benchmark_image(codec: ImageCodec, image: np.ndarray, repeats: int = 5, warmup: int = 1,
                    stages: dict[str, Any] | None = None) -> dict[str, Any]:
  """Stage and end-to-end wall times (lists of seconds) for one uint8 image.

  ``stages`` are :func:`codec_stages` (made here if None). h_s is one function timed once; it
  appears in both the encoder and the decoder breakdown.
  """
  stages = stages or codec_stages(codec)
  samples: dict[str, list[float]] = {}

  def run(name, *args):
    samples[name], out = time_calls(stages[name], args, repeats, warmup)
    return out

  x = pad_to_multiple(tf.cast(tf.constant(image)[None], tf.float32))
  y = run("g_a", x)
  z = run("h_a", y)
  z_string, z_hat = run("z_coding", z)
  params = run("h_s", z_hat)
  y_strings, _ = run("y_coding", y, params)
  run("z_decoding", z_string, tf.shape(z)[1:3])
  y_hat, _ = run("y_decoding", y_strings, params)
  run("g_s", y_hat)
  parts = codec.prior.coding_parameters(y, params)
  run("y_range_decoding", run("y_range_coding", parts), parts)
  samples["compress"], encoded = time_calls(codec.compress, (tf.constant(image),), repeats,
                                            warmup)
  samples["decompress"], decoded = time_calls(
      codec.decompress, (encoded["strings"], encoded["shape"]), repeats, warmup)
  num_bytes = int(sum(len(s) for s in encoded["strings"].numpy()))
  return {"samples": samples, "bpp": 8 * num_bytes / (image.shape[0] * image.shape[1]),
          "checksum_match": bool(encoded["index_checksum"] == decoded["index_checksum"])}


def benchmark_codec(codec: ImageCodec, images: Sequence[tuple[str, np.ndarray]],
                    repeats: int = 5, warmup: int = 1) -> dict[str, Any]:
  """Median stage times (s) over all timed calls on ``images`` (all of one size)."""
  stages = codec_stages(codec)
  runs = [benchmark_image(codec, image, repeats, warmup, stages) for _, image in images]
  samples = {k: [t for r in runs for t in r["samples"][k]] for k in runs[0]["samples"]}
  median = {k: statistics.median(v) for k, v in samples.items()}
  encode = {k: median[k] for k in ENCODE_STAGES}
  decode = {k: median[k] for k in DECODE_STAGES}
  return {
      "images": [name for name, _ in images], "repeats": repeats, "warmup": warmup,
      "encode": encode, "decode": decode,
      "encode_sum": sum(encode.values()), "decode_sum": sum(decode.values()),
      "compress": median["compress"], "decompress": median["decompress"],
      "range_coding": {"y_encode": median["y_range_coding"],
                       "y_decode": median["y_range_decoding"]},
      "samples": samples, "bpp": statistics.mean(r["bpp"] for r in runs),
      "checksum_match": all(r["checksum_match"] for r in runs),
  }


def compute_floor(macs: float, gflops: float) -> float:
  """Seconds ``macs`` multiply-accumulates take at ``gflops`` (2 FLOPs per MAC)."""
  return 2.0 * macs / (gflops * 1e9)


def memory_floor(num_bytes: float, gbps: float) -> float:
  """Seconds moving ``num_bytes`` takes at ``gbps`` GB/s."""
  return num_bytes / (gbps * 1e9)


def combined_floor(macs: float, num_bytes: float, gflops: float, gbps: float) -> float:
  """Matmul plus memory floor (s): :func:`compute_floor` + :func:`memory_floor`."""
  return compute_floor(macs, gflops) + memory_floor(num_bytes, gbps)


# -- report ---------------------------------------------------------------------------------------
#: Every stage once (h_s is shared by encoding and decoding), for the floors table.
ALL_STAGES = ENCODE_STAGES + ("z_decoding", "y_decoding", "g_s")


def _stage_macs(r: dict[str, Any], stages: Sequence[str]) -> float:
  return sum(r["macs_effective"].get(STAGE_MODULES.get(s, ""), 0) for s in stages)


def _stage_bytes(r: dict[str, Any], stages: Sequence[str]) -> int:
  return sum(r["memory_bytes"][s] for s in stages)


def _floors(r: dict[str, Any], stages: Sequence[str]) -> tuple[float, float | None]:
  """(matmul floor, matmul + memory floor) of ``stages`` in seconds; the second is None for a
  record without byte counts (benchmark.py --nomemory_floor, or older records)."""
  macs = _stage_macs(r, stages)
  if "memory_bytes" not in r:
    return compute_floor(macs, r["gflops"]), None
  return (compute_floor(macs, r["gflops"]),
          combined_floor(macs, _stage_bytes(r, stages), r["gflops"], r["gbps"]))


def _ratio(seconds: float, floor: float) -> str:
  return f"{seconds / floor:.1f}x" if floor else "–"


def _cell(r: dict[str, Any], seconds: float, stages: Sequence[str]) -> str:
  """``ms (time / matmul floor)``, with byte counts ``ms (time / matmul floor / time /
  (matmul + memory) floor)``."""
  matmul, total = _floors(r, stages)
  if not matmul:  # range coding only: no network, no meaningful floor
    return f"{seconds * 1e3:.1f}"
  if total is not None:
    return f"{seconds * 1e3:.1f} ({_ratio(seconds, matmul)} / {_ratio(seconds, total)})"
  return f"{seconds * 1e3:.1f} ({_ratio(seconds, matmul)})"


def _encode_row(r: dict[str, Any]) -> list[Any]:
  return ([r["model"]] + [_cell(r, r["encode"][s], [s]) for s in ENCODE_STAGES]
          + [_cell(r, r["encode_sum"], ENCODE_STAGES), f"{r['compress'] * 1e3:.1f}",
             f"{r['compress'] / r['encode_sum']:.2f}",
             f"{_stage_macs(r, ENCODE_STAGES) / 1e9:.1f}", f"{r['gflops']:.0f}",
             f"{r['gbps']:.1f}" if "gbps" in r else "–", f"{r['bpp']:.2f}"])


def _decode_row(r: dict[str, Any]) -> list[Any]:
  return ([r["model"]] + [_cell(r, r["decode"][s], [s]) for s in DECODE_STAGES]
          + [_cell(r, r["decode_sum"], DECODE_STAGES), f"{r['decompress'] * 1e3:.1f}",
             f"{r['decompress'] / r['decode_sum']:.2f}",
             f"{_stage_macs(r, DECODE_STAGES) / 1e9:.1f}", r["checksum_match"]])


def _floor_rows(r: dict[str, Any]) -> list[list[Any]]:
  """Per stage and per direction: time, both floors and their parts, what is uncounted."""
  times = {**r["decode"], **r["encode"]}
  rows = ([(s, times[s], [s]) for s in ALL_STAGES]
          + [("encode sum", r["encode_sum"], ENCODE_STAGES),
             ("decode sum", r["decode_sum"], DECODE_STAGES)])
  out = []
  for name, seconds, stages in rows:
    matmul, total = _floors(r, stages)
    out.append([r["model"], name, f"{seconds * 1e3:.1f}", f"{matmul * 1e3:.1f}",
                f"{_stage_bytes(r, stages) / 1e9:.3f}", f"{(total - matmul) * 1e3:.1f}",
                _ratio(seconds, matmul), _ratio(seconds, total) if matmul else "–",
                sum(r["memory_unknown_tensors"][s] for s in stages),
                sum(r["memory_skipped_ops"][s] for s in stages)])
  return out


def _entropy_coding_row(r: dict[str, Any]) -> list[Any]:
  """Range coding alone (z and y), in ms and as a share of ``compress()`` / ``decompress()``."""
  encode = r["encode"]["z_coding"] + r["range_coding"]["y_encode"]
  decode = r["decode"]["z_decoding"] + r["range_coding"]["y_decode"]
  return [r["model"], f"{r['encode']['z_coding'] * 1e3:.1f}",
          f"{r['range_coding']['y_encode'] * 1e3:.1f}", f"{encode / r['compress']:.1%}",
          f"{r['decode']['z_decoding'] * 1e3:.1f}", f"{r['range_coding']['y_decode'] * 1e3:.1f}",
          f"{decode / r['decompress']:.1%}", f"{r['bpp']:.2f}"]


def _paper_row(model: str) -> list[Any]:
  enc, dec = PAPER_CPU_MS[model]["encode"], PAPER_CPU_MS[model]["decode"]
  return ([model] + [enc[s] for s in ENCODE_STAGES] + [enc["total"]]
          + [dec[s] for s in DECODE_STAGES] + [dec["total"]])


def markdown_report(records: Sequence[dict[str, Any]]) -> str:
  """Encode / decode tables per image size; stage cells are ``ms (time / matmul floor)``, or
  ``ms (time / matmul floor / time / (matmul + memory) floor)`` for records with byte counts,
  which also get a table of their floors."""
  lines = []
  sizes = sorted({(r["width"], r["height"]) for r in records}, key=lambda s: s[0] * s[1])
  for w, h in sizes:
    rows = [r for r in records if (r["width"], r["height"]) == (w, h)]
    lines += [f"## {w}x{h}", "", "### Encoding (ms)", "",
              markdown_table(["Model", "g_a", "h_a", "z", "h_s", "y (+ChARM)", "sum",
                              "compress()", "compress/sum", "eff. GMACs", "GFLOP/s", "GB/s",
                              "bpp"], [_encode_row(r) for r in rows]),
              "", "### Decoding (ms)", "",
              markdown_table(["Model", "z", "h_s", "y (+ChARM)", "g_s", "sum", "decompress()",
                              "decompress/sum", "eff. GMACs", "checksum ok"],
                             [_decode_row(r) for r in rows]), ""]
    ranged = [r for r in rows if "range_coding" in r]
    if ranged:
      lines += ["### Entropy coding (ms)", "",
                "Range coding alone: z as in the stages above, y with its means and scale "
                "indexes given (the ChARM networks excluded); share = (z + y) / compress() "
                "or decompress().", "",
                markdown_table(["Model", "z coding", "y range coding", "share of compress()",
                                "z decoding", "y range decoding", "share of decompress()",
                                "bpp"], [_entropy_coding_row(r) for r in ranged]), ""]
    counted = [r for r in rows if "memory_bytes" in r]
    if counted:
      lines += ["### Floors (ms)", "",
                "Matmul floor: effective MACs x 2 / GFLOP/s; memory floor: bytes the non-matmul "
                "ops read and write (tfc_swin.profiling.complexity.graph_bytes) / GB/s. "
                "Uncounted: tensors without a static shape or of variable size (strings), and "
                "control-flow / call ops whose bodies are not entered.", "",
                markdown_table(["Model", "stage", "ms", "matmul floor", "GB moved",
                                "memory floor", "time / matmul floor",
                                "time / (matmul + memory) floor", "uncounted tensors",
                                "uncounted calls"],
                               [row for r in counted for row in _floor_rows(r)]), ""]
  paper = [m for m in PAPER_CPU_MS if any(r["model"] == m for r in records)]
  if paper:
    lines += ["## Paper CPU reference (Tables 5-6, 768x512, Xeon W-2123, PyTorch; ms)", "",
              markdown_table(["Model", "g_a", "h_a", "z", "h_s", "y (+ChARM)", "enc total", "z",
                              "h_s", "y (+ChARM)", "g_s", "dec total"],
                             [_paper_row(m) for m in paper]), ""]
  return "\n".join(lines)
