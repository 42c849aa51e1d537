"""CPU coding time of the public TF SwinT-ChARM next to ours, in one run (issue 16).

  git clone https://github.com/Nikolai10/SwinT-ChARM /tmp/swint-charm-public
  nice .venv/bin/python experiments/benchmark_public.py --public_src /tmp/swint-charm-public \
      --output results/benchmark/public_swint_charm.md

Paper-size SwinT-ChARM (Zhu et al. 2022, App. A.2; speed as in Tables 3-6), random weights:
ours is ``build_codec("swint-charm")``; the public one (Nikolai10/SwinT-ChARM,
``zyc2022.ZYC2022Model``) is imported from ``--public_src`` at run time, never copied here.
The end-to-end ``compress`` / ``decompress`` tf.functions are timed on one image, batch 1: per
round one call then ``--repeats`` timed calls, rounds alternating the models (ours, public,
ours, public) so that load drift hits both; median over all timed calls. The float32 matmul
GFLOP/s is measured before each model's calls; floor = our effective MACs x 2 / the run's
median GFLOP/s. ``--ours_float32`` adds ours with h_s/ChARM in float32 (what float64 costs;
``ImageCodec.float32_entropy_parameters``; with ``--ours_bfloat16`` also every option at once);
``--ours_fused`` adds ours with XLA-fused LayerNorm / GELU in g_a / g_s (the opt-in coder of
``ImageCodec.fused_elementwise``; same bitstream format, docs/complexity.md); ``--ours_bfloat16``
adds ours fused and with bfloat16 matmuls in g_a / g_s (``ImageCodec.bfloat16_matmuls``; the
report then also gives the bfloat16 matmul GFLOP/s of the run and that floor).
Peak memory: RSS growth of one call, one child process per model (the settings of
``complexity.measure_peak_memory``).

Run-time workarounds for the public code (its files are not changed):

* import: its ``config.py``, ``swin-transformers-tf/swins`` and ``zyc2022.py`` are loaded from
  their files with importlib (it expects to run from inside its checkout); its import appends
  the relative directory ``swin-transformers-tf`` to the import path (its own code). If
  ``tensorflow_datasets`` (used only by its training input) is missing, a stub is used.
* hyper-parameters: its own parser's defaults (``parse_args([.., "train"])``), except
  ``max_support_slices`` = ``--public_max_support_slices``, 10 as in its README's training
  command for the released 32.6M model (the parser's 5 gives 31.33M).
* range-coding tables: its ``fit()`` makes ``em_z`` / ``em_y`` after training; we call it with
  ``epochs=0`` (no training step).

Nothing else is needed on TF 2.14.1 / TFC 2.14.1. See docs/complexity.md.
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable

import tensorflow as tf
from absl import app, flags

from tfc_swin import fileio
from tfc_swin.codecs import ImageCodec, build_codec
from tfc_swin.codecs.image import set_coding_options
from tfc_swin.codecs.base import count_parameters
from tfc_swin.eval.tables import markdown_table
from tfc_swin.profiling import complexity, timing

FLAGS = flags.FLAGS
OURS = "swint-charm"
#: Ours with h_s and the ChARM networks in float32 (``--ours_float32``; opt-in, as the public
#: code computes them; such files decode reliably only where they were made).
OURS_FLOAT32 = "swint-charm@float32"
#: Ours with XLA-fused LayerNorm / GELU in the transforms (``--ours_fused``; opt-in).
OURS_FUSED = "swint-charm@fused"
#: Ours fused and with bfloat16 matmuls in the transforms (``--ours_bfloat16``; opt-in).
OURS_BFLOAT16 = "swint-charm@fused@bfloat16"
#: Every opt-in option at once (``--ours_bfloat16 --ours_float32``).
OURS_FASTEST = "swint-charm@fused@bfloat16@float32"
#: The opt-in coders of ours by name: their coding options (``ImageCodec.CODING_OPTIONS``).
OURS_OPTIONS = {OURS_FLOAT32: dict(float32_entropy_parameters=True),
                OURS_FUSED: dict(fused_elementwise=True),
                OURS_BFLOAT16: dict(fused_elementwise=True, bfloat16_matmuls=True),
                OURS_FASTEST: dict(fused_elementwise=True, bfloat16_matmuls=True,
                                   float32_entropy_parameters=True)}
PUBLIC = "public"
#: Files a checkout of Nikolai10/SwinT-ChARM must hold (relative to --public_src).
PUBLIC_FILES = ("zyc2022.py", "config.py", "swin-transformers-tf/swins/__init__.py")
PUBLIC_URL = "https://github.com/Nikolai10/SwinT-ChARM"
#: The public model's top-level modules (loaded by :func:`import_public`).
PUBLIC_MODULES = ("config", "swins", "zyc2022")
GOAL = 1.5  # issue 16: ours >= 1.5x faster than the public implementation

flags.DEFINE_string("public_src", None, f"Checkout of {PUBLIC_URL} (git clone it first).")
flags.DEFINE_integer("public_max_support_slices", 10,
                     "max_support_slices of the public model (10: its released model).")
flags.DEFINE_string("images", "../shared/data/kodak",
                    "Image folder; its first image (kodim01) is centre-cropped to "
                    "--width x --height. A synthetic image is used if it does not exist.")
flags.DEFINE_integer("height", 512, "Image height (a multiple of 256 for the public model).")
flags.DEFINE_integer("width", 768, "Image width (a multiple of 256 for the public model).")
flags.DEFINE_integer("repeats", 3, "Timed calls per model, stage and round (after one call).")
flags.DEFINE_integer("rounds", 2, "Rounds, alternating the models (ours, public, ...).")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0: TF default, all cores).")
flags.DEFINE_bool("ours_float32", False, "Also time ours with h_s and the ChARM networks in "
                  "float32 instead of float64 (what float64 costs; such files are not portable, "
                  "see docs/robustness.md).")
flags.DEFINE_bool("ours_fused", False, "Also time ours with XLA-fused LayerNorm / GELU in g_a / "
                  "g_s (set_coding_options; the opt-in fused coder).")
flags.DEFINE_bool("ours_bfloat16", False, "Also time ours fused and with bfloat16 matmuls in "
                  "g_a / g_s (set_coding_options; for CPUs with AVX512_BF16 / AMX).")
flags.DEFINE_bool("memory", True, "Measure peak RSS growth (one child process per model).")
flags.DEFINE_bool("count_public_macs", True, "Also count MACs on the public model's graphs.")
flags.DEFINE_string("output", "results/benchmark/public_swint_charm.md", "Markdown report.")
flags.DEFINE_string("json", None, "JSON results path (default: --output with .json).")
flags.DEFINE_bool("memory_child", False, "Internal: measure the public model's peak memory "
                  "in this process and print it as JSON.")


# -- the public model -----------------------------------------------------------------------------
def check_public_src(path: str | None) -> Path:
  """The checkout directory; ``ValueError`` naming what is missing and how to get it."""
  hint = f"clone it first: git clone {PUBLIC_URL} /tmp/swint-charm-public"
  if not path:
    raise ValueError(f"--public_src is required ({hint})")
  src = Path(path).expanduser()
  if not src.is_dir():
    raise ValueError(f"--public_src {path}: no such directory ({hint})")
  missing = [f for f in PUBLIC_FILES if not (src / f).is_file()]
  if missing:
    raise ValueError(f"--public_src {path} is not a checkout of {PUBLIC_URL}: missing "
                     f"{', '.join(missing)} ({hint})")
  return src.resolve()


def _load(name: str, path: Path, package: bool = False) -> types.ModuleType:
  spec = importlib.util.spec_from_file_location(
      name, path, submodule_search_locations=[str(path.parent)] if package else None)
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module
  try:
    spec.loader.exec_module(module)
  except BaseException:
    del sys.modules[name]
    raise
  return module


def import_public(src: Path) -> types.ModuleType:
  """The public ``zyc2022`` module, with its ``config`` and ``swins`` loaded from ``src``."""
  for name in PUBLIC_MODULES:
    loaded = getattr(sys.modules.get(name), "__file__", None)
    if loaded and not Path(loaded).resolve().is_relative_to(src):
      raise RuntimeError(f"a module {name!r} from {loaded} is already imported; the public "
                         "model needs its own")
  if importlib.util.find_spec("tensorflow_datasets") is None:
    sys.modules["tensorflow_datasets"] = types.ModuleType("tensorflow_datasets")
  _load("config", src / "config.py")
  _load("swins", src / "swin-transformers-tf" / "swins" / "__init__.py", package=True)
  return _load("zyc2022", src / "zyc2022.py")


def build_public(zyc2022: types.ModuleType, max_support_slices: int) -> tf.keras.Model:
  """The public model with random weights, its hyper-parameters from its own parser, and
  its range-coding models made by its own ``fit`` (zero epochs: no training)."""
  args = zyc2022.parse_args(["zyc2022", "train"])
  args.max_support_slices = max_support_slices
  model = zyc2022.ZYC2022Model(args.patchsize, args.lmbda, args.num_filters, args.latent_depth,
                               args.hyperprior_depth, args.num_slices, args.max_support_slices,
                               args.num_scales, args.scale_min, args.scale_max)
  model.compile(optimizer=tf.keras.optimizers.Adam())
  crop = tf.zeros([1, args.patchsize, args.patchsize, 3])
  model.fit(tf.data.Dataset.from_tensors(crop), epochs=0, verbose=0)
  if not (hasattr(model, "em_z") and hasattr(model, "em_y")):
    raise RuntimeError("the public model's fit() made no range-coding models (em_z, em_y)")
  return model


def public_macs(model: tf.keras.Model, height: int, width: int) -> dict[str, complexity.MacCount]:
  """MACs per module of the public model, counted on its graphs like ours: g_a, h_a, h_s, g_s
  traced alone; ``charm`` = its whole ``compress`` minus g_a, h_a and h_s."""
  spec = lambda *shape: tf.TensorSpec(shape, tf.float32)  # noqa: E731
  y, z = spec(1, height // 16, width // 16, 320), spec(1, height // 64, width // 64, 192)
  macs = {"g_a": complexity.count_macs(model.analysis_transform, [spec(1, height, width, 3)]),
          "h_a": complexity.count_macs(model.hyper_analysis_transform, [y]),
          "h_s": complexity.count_macs(model.hyper_synthesis_mean_scale_transform, [z]),
          "g_s": complexity.count_macs(model.synthesis_transform, [y])}
  compress = type(model).compress.python_function
  whole = complexity.count_macs(lambda x: compress(model, x),
                                [tf.TensorSpec([height, width, 3], tf.uint8)])
  parts = [dataclasses.astuple(macs[n]) for n in ("g_a", "h_a", "h_s")]
  macs["charm"] = complexity.MacCount(*(total - sum(p) for total, *p in zip(
      dataclasses.astuple(whole), *parts)))
  return macs


# -- coding functions -----------------------------------------------------------------------------
@dataclasses.dataclass
class Coder:
  """One model's encode / decode calls on a uint8 image, and the size of what it wrote."""
  name: str
  encode: Callable[[tf.Tensor], Any]
  decode: Callable[[Any], Any]
  num_bytes: Callable[[Any], int]
  decoded_image: Callable[[Any], tf.Tensor]


def our_coder(codec: ImageCodec, name: str = OURS) -> Coder:
  return Coder(name, codec.compress, lambda e: codec.decompress(e["strings"], e["shape"]),
               lambda e: int(sum(len(s) for s in e["strings"].numpy())), lambda d: d["image"])


def public_coder(model: tf.keras.Model) -> Coder:
  # compress returns (x_shape, y_shape, z_shape, z_string, *y_strings); strings are (1,).
  return Coder(PUBLIC, model.compress, lambda e: model.decompress(*e),
               lambda e: int(sum(len(t.numpy()[0]) for t in e[3:])), lambda d: d)


def time_round(coder: Coder, image: tf.Tensor, repeats: int) -> dict[str, Any]:
  """One call, then ``repeats`` timed calls of encode, then the same for decode."""
  encode, encoded = timing.time_calls(coder.encode, (image,), repeats, warmup=0)
  decode, decoded = timing.time_calls(coder.decode, (encoded,), repeats, warmup=0)
  return {"encode": encode, "decode": decode,
          "bpp": 8 * coder.num_bytes(encoded) / (image.shape[0] * image.shape[1]),
          "shape_ok": tuple(coder.decoded_image(decoded).shape) == tuple(image.shape)}


# -- peak memory ----------------------------------------------------------------------------------
def public_memory_child(src: Path, max_support_slices: int, height: int,
                        width: int) -> dict[str, Any]:
  """In this (fresh) process: as ``complexity.memory_child``, for the public model."""
  model = build_public(import_public(src), max_support_slices)
  image = tf.constant(timing.synthetic_image(height, width))
  return complexity.coding_peak_memory(lambda: model.compress(image),
                                       lambda e: model.decompress(*e),
                                       4 * count_parameters(model))


def measure_public_memory(src: Path, max_support_slices: int, height: int,
                          width: int) -> dict[str, Any]:
  proc = subprocess.run(
      [sys.executable, os.path.abspath(__file__), "--memory_child", f"--public_src={src}",
       f"--public_max_support_slices={max_support_slices}", f"--height={height}",
       f"--width={width}"], env=complexity.memory_child_env(), capture_output=True, text=True,
      check=False)
  if proc.returncode:
    raise RuntimeError(f"memory measurement of the public model failed:\n{proc.stderr[-2000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the run --------------------------------------------------------------------------------------
def _machine() -> dict[str, Any]:
  return {"cpu": timing.cpu_name(), "cores": os.cpu_count(),
          "load_average": list(os.getloadavg()), "tensorflow": tf.__version__,
          "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default")}


def _git_commit(src: Path) -> str | None:
  proc = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                        text=True, check=False)
  return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def summarize(rounds: list[dict[str, Any]], params: dict[str, int],
              macs: dict[str, dict[str, complexity.MacCount]]) -> dict[str, Any]:
  """Per model: median encode / decode seconds over all rounds, floor ratios, parameters.

  ``macs[OURS]`` gives the floor of all models; ``macs[PUBLIC]`` (optional) is reported.
  ``public_over``: the public model's time over each other model's (> 1: ours is faster).
  """
  gflops = statistics.median(g for r in rounds for g in r["gflops"]["samples_gflops"])
  enc_macs = sum(macs[OURS][n].effective for n in complexity.ENCODER_MODULES)
  dec_macs = sum(macs[OURS][n].effective for n in complexity.DECODER_MODULES)
  floor = {"encode": timing.compute_floor(enc_macs, gflops),
           "decode": timing.compute_floor(dec_macs, gflops)}
  models = {}
  for model in dict.fromkeys(r["model"] for r in rounds):
    mine = [r for r in rounds if r["model"] == model]
    row: dict[str, Any] = {"parameters": params[model]}
    for stage in ("encode", "decode"):
      row[stage] = statistics.median(t for r in mine for t in r[stage])
      row[f"{stage}_floor_ratio"] = row[stage] / floor[stage]
    counted = macs.get(OURS if model.startswith(OURS + "@") else model)
    if counted:
      row["encode_macs"] = sum(counted[n].effective for n in complexity.ENCODER_MODULES)
      row["decode_macs"] = sum(counted[n].effective for n in complexity.DECODER_MODULES)
    row["bpp"] = statistics.mean(r["bpp"] for r in mine)
    row["shape_ok"] = all(r["shape_ok"] for r in mine)
    models[model] = row
  samples = [g for r in rounds for g in r["gflops"]["samples_gflops"]]
  public_over = {m: {s: models[PUBLIC][s] / models[m][s] for s in ("encode", "decode")}
                 for m in models if m != PUBLIC}
  return {"models": models, "gflops": gflops, "gflops_range": [min(samples), max(samples)],
          "floor_s": floor, "public_over": public_over, "public_over_ours": public_over[OURS]}


def bfloat16_floor(macs: dict[str, complexity.MacCount], gflops: float) -> dict[str, Any]:
  """Floor of the bfloat16 coder: g_a / g_s MACs at this machine's bfloat16 matmul rate
  (measured now, 5 samples), the other modules' at ``gflops`` (float32)."""
  bf16 = timing.matmul_gflops(repeats=5, dtype=tf.bfloat16)
  floors = {}
  for stage, modules in (("encode", complexity.ENCODER_MODULES),
                         ("decode", complexity.DECODER_MODULES)):
    floors[stage] = sum(timing.compute_floor(macs[n].effective,
                                             bf16["gflops"] if n in ("g_a", "g_s") else gflops)
                        for n in modules)
  return {**floors, "gflops": bf16["gflops"], "samples_gflops": bf16["samples_gflops"]}


def _ms(seconds: float) -> str:
  return f"{seconds * 1e3:.0f}"


def markdown_report(result: dict[str, Any]) -> str:
  """The report: settings and machine, times and ratios, memory, and every round."""
  s, m = result["summary"], result["machine"]
  label = {OURS: f"ours (`{OURS}`)", PUBLIC: "public (`zyc2022.ZYC2022Model`)",
           OURS_FLOAT32: "ours, h_s + ChARM in float32 (opt-in, files not portable)",
           OURS_FUSED: "ours, XLA-fused LayerNorm / GELU (opt-in)",
           OURS_BFLOAT16: "ours, fused and bfloat16 matmuls in g_a / g_s (opt-in)",
           OURS_FASTEST: "ours, fused, bfloat16 matmuls and h_s + ChARM in float32 (opt-in)"}
  lines = [
      "# Public SwinT-ChARM vs ours: CPU coding time (issue 16)", "",
      f"{result['date']}; {m['cpu']}, {m['cores']} cores, TF {m['tensorflow']}, oneDNN "
      f"{m['onednn']}; load average (1/5/15 min) "
      f"{'/'.join(f'{v:.2f}' for v in result['load_before'])} before and "
      f"{'/'.join(f'{v:.2f}' for v in result['load_after'])} after the run. "
      f"Public code: {result['public_commit'] or 'commit unknown'} "
      f"(max_support_slices {result['public_max_support_slices']}). "
      f"Image {result['image']} ({result['width']}x{result['height']}), batch 1, random "
      f"weights. End-to-end `compress` / `decompress` tf.functions; {result['rounds']} rounds "
      "alternating the models (in the order of the Rounds table), each: one call (traces "
      "in round 1), then "
      f"{result['repeats']} timed calls; median over all timed calls. Floor = our effective "
      "MACs (`complexity.module_macs`) x 2 / the median float32 matmul GFLOP/s of the run "
      f"({s['gflops']:.1f}, range {s['gflops_range'][0]:.1f}-{s['gflops_range'][1]:.1f}): "
      f"encode {_ms(s['floor_s']['encode'])} ms, decode {_ms(s['floor_s']['decode'])} ms.", "",
      markdown_table(
          ["Model", "Params (M)", "encode (ms)", "decode (ms)", "encode / floor",
           "decode / floor", "enc GMACs (eff.)", "dec GMACs (eff.)", "bpp (random weights)",
           "decoded shape ok"],
          [[label[k], f"{r['parameters'] / 1e6:.2f}", _ms(r["encode"]), _ms(r["decode"]),
            f"{r['encode_floor_ratio']:.1f}", f"{r['decode_floor_ratio']:.1f}",
            f"{r['encode_macs'] / 1e9:.1f}" if "encode_macs" in r else "–",
            f"{r['decode_macs'] / 1e9:.1f}" if "decode_macs" in r else "–",
            f"{r['bpp']:.2f}", r["shape_ok"]] for k, r in s["models"].items()],
          numeric=[False] + [True] * 8 + [False]), "",
      f"Public time / our time (issue goal: >= {GOAL}, i.e. ours {GOAL}x faster):", ""]
  bf16 = result.get("bfloat16_floor")
  if bf16:
    lines[-2:-2] = [
        f"bfloat16 matmul {bf16['gflops']:.1f} GFLOP/s in this run (median of "
        f"{len(bf16['samples_gflops'])}). Floor of the bfloat16 coder (g_a / g_s MACs at that "
        f"rate, h_a / h_s / ChARM at the float32 rate): encode {_ms(bf16['encode'])} ms, "
        f"decode {_ms(bf16['decode'])} ms; its time / that floor: "
        f"{s['models'][OURS_BFLOAT16]['encode'] / bf16['encode']:.1f} / "
        f"{s['models'][OURS_BFLOAT16]['decode'] / bf16['decode']:.1f}"
        + (f" (with h_s + ChARM in float32: "
           f"{s['models'][OURS_FASTEST]['encode'] / bf16['encode']:.1f} / "
           f"{s['models'][OURS_FASTEST]['decode'] / bf16['decode']:.1f})"
           if OURS_FASTEST in s["models"] else "") + ".", ""]
  lines += [_verdict(label[k], v) for k, v in s["public_over"].items()] + [""]
  memory = result.get("memory")
  if memory:
    lines += ["## Peak memory (MB)", "",
              "RSS growth of one compress / decompress call after a traced warm-up call, in "
              "a child process per model (synthetic image of the same size; "
              "`complexity.measure_peak_memory` settings).", "",
              markdown_table(["Model", "encode growth", "decode growth",
                              "RSS before (model loaded, traced)", "weights", "method"],
                             [[label[k], f"{v['encode_bytes'] / 1e6:.0f}",
                               f"{v['decode_bytes'] / 1e6:.0f}",
                               f"{v['baseline_rss_bytes'] / 1e6:.0f}",
                               f"{v['weights_bytes'] / 1e6:.0f}", v["method"]]
                              for k, v in memory.items()],
                             numeric=[False] + [True] * 4 + [False]), ""]
  lines += ["## Rounds", "",
            markdown_table(["Round", "Model", "GFLOP/s before", "encode (ms)", "decode (ms)"],
                           [[r["round"], r["model"], f"{r['gflops']['gflops']:.1f}",
                             ", ".join(_ms(t) for t in r["encode"]),
                             ", ".join(_ms(t) for t in r["decode"])]
                            for r in result["rounds_detail"]]), ""]
  return "\n".join(lines)


def _verdict(label: str, ratio: dict[str, float]) -> str:
  words = []
  for stage in ("encode", "decode"):
    r = ratio[stage]
    words.append(f"{stage} {r:.2f}" + (f" (ours {1 / r:.2f}x slower)" if r < 1 else ""))
  met = "meets" if min(ratio.values()) >= GOAL else "does not meet"
  return f"* **{label}: {', '.join(words)}**: {met} the goal."


def _macs_json(macs: dict[str, complexity.MacCount]) -> dict[str, dict[str, int]]:
  return {k: v.to_dict() for k, v in macs.items()}


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  try:
    src = check_public_src(FLAGS.public_src)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  if FLAGS.memory_child:
    print(json.dumps(public_memory_child(src, FLAGS.public_max_support_slices, FLAGS.height,
                                         FLAGS.width)))
    return
  if FLAGS.height % 256 or FLAGS.width % 256:
    raise app.UsageError("--height and --width must be multiples of 256 (the public model)")
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  output = Path(FLAGS.output)
  json_path = Path(FLAGS.json) if FLAGS.json else output.with_suffix(".json")
  h, w = FLAGS.height, FLAGS.width
  load_before = list(os.getloadavg())
  [(image_name, image)] = timing.load_images(FLAGS.images, h, w, 1)
  image = tf.constant(image)

  codec = build_codec(OURS)
  codec.prepare_for_compression()
  macs = {OURS: complexity.module_macs(codec, h, w)}
  model = build_public(import_public(src), FLAGS.public_max_support_slices)
  if FLAGS.count_public_macs:
    macs[PUBLIC] = public_macs(model, h, w)
  params = {OURS: codec.count_parameters(), PUBLIC: count_parameters(model)}
  print(f"parameters: ours {params[OURS] / 1e6:.2f}M, public {params[PUBLIC] / 1e6:.2f}M",
        flush=True)

  coders = {OURS: our_coder(codec)}
  wanted = {OURS_FLOAT32: FLAGS.ours_float32, OURS_FUSED: FLAGS.ours_fused,
            OURS_BFLOAT16: FLAGS.ours_bfloat16,
            OURS_FASTEST: FLAGS.ours_bfloat16 and FLAGS.ours_float32}
  for name, options in OURS_OPTIONS.items():
    if wanted[name]:
      variant = build_codec(OURS)
      set_coding_options(variant, **options)
      variant.prepare_for_compression()
      coders[name] = our_coder(variant, name)
      params[name] = variant.count_parameters()
  coders[PUBLIC] = public_coder(model)
  rounds = []
  for index in range(1, FLAGS.rounds + 1):
    for name in coders:
      gflops = timing.matmul_gflops(repeats=5)
      record = time_round(coders[name], image, FLAGS.repeats)
      record.update(round=index, model=name, gflops=gflops)
      rounds.append(record)
      print(f"round {index} {name}: matmul {gflops['gflops']:.1f} GFLOP/s, encode "
            f"{_ms(statistics.median(record['encode']))} ms, decode "
            f"{_ms(statistics.median(record['decode']))} ms", flush=True)
  load_after = list(os.getloadavg())
  summary = summarize(rounds, params, macs)
  bf16_floor = (bfloat16_floor(macs[OURS], summary["gflops"]) if FLAGS.ours_bfloat16
                else None)
  del codec, model, coders  # freed before the memory runs

  memory = None
  if FLAGS.memory:
    memory = {OURS: complexity.measure_peak_memory(OURS, h, w),
              PUBLIC: measure_public_memory(src, FLAGS.public_max_support_slices, h, w)}
  result = {
      "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
      "machine": _machine(), "load_before": load_before, "load_after": load_after,
      "public_src": str(src), "public_commit": _git_commit(src),
      "public_max_support_slices": FLAGS.public_max_support_slices,
      "image": image_name, "height": h, "width": w, "repeats": FLAGS.repeats,
      "rounds": FLAGS.rounds, "threads": FLAGS.threads,
      "summary": summary, "bfloat16_floor": bf16_floor, "memory": memory,
      "macs": {k: _macs_json(v) for k, v in macs.items()}, "rounds_detail": rounds}
  fileio.write_text(json_path, json.dumps(result, indent=1))
  fileio.write_text(output, markdown_report(result))
  for name, ratio in result["summary"]["public_over"].items():
    print(f"public / {name}: encode {ratio['encode']:.2f}x, decode {ratio['decode']:.2f}x")
  print(f"wrote {output} and {json_path}")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
