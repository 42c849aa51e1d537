"""Files decode everywhere: encode under one TF numerics setting, decode under every other.

Each setting is a separate process with its own environment: oneDNN on or off
(``TF_ENABLE_ONEDNN_OPTS``), the number of intra-op threads and, optionally, a cap on the
instruction set that oneDNN dispatches to at run time (``ONEDNN_MAX_CPU_ISA``). Every image is
compressed once per setting, and every file is decompressed under every setting; the result
table counts files that decode, and for those that do not, the error. Float32 kernels differ
between these settings as they do between CPUs, GPUs and TF builds
(tfc_swin/layers/precision.py).

A setting is ``onednn{0,1}-t{threads}[-{isa}]``, e.g. ``onednn1-t1``, ``onednn0-t2``,
``onednn1-t1-avx2``. The ISA cap emulates an older CPU on this one: ``avx2`` (an AVX2-only
CPU), ``avx512`` (AVX-512 without AMX or VNNI), ``amx``, or any oneDNN ISA name in lower case
(``sse41``, ``avx``, ``avx2``, ``avx2_vnni``, ``avx512_core``, ``avx512_core_vnni``,
``avx512_core_bf16``, ``avx512_core_fp16``, ``avx512_core_amx``...). It sets
``ONEDNN_MAX_CPU_ISA`` (and ``DNNL_MAX_CPU_ISA``) for the worker; without it both are removed,
so that the worker runs on the native ISA. The cap applies to oneDNN with ``onednn0`` as well:
TF's Eigen contractions (float32 MatMul, Conv2D) call oneDNN's run-time dispatched sgemm.
Eigen's other kernels (and all float64 ones) are compiled into the wheel for a fixed ISA and do
not change. The cap cannot raise the ISA above what the CPU has; the JSON records, per setting,
the ISA line that oneDNN reports (``isa``).

  python experiments/cross_platform_decode.py --model swint-hyperprior-cpu \
      --images ../shared/data/kodak --output results/cross_platform/swint-hyperprior-cpu.json
  python experiments/cross_platform_decode.py --model swint-hyperprior-cpu \
      --images ../shared/data/kodak --settings onednn1-t1,onednn1-t1-avx2,onednn0-t2 \
      --output results/cross_platform/swint-hyperprior-cpu-isa-kodak24.json
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from tfc_swin.eval.tables import markdown_table

#: Short ISA cap names -> oneDNN's ``ONEDNN_MAX_CPU_ISA`` values.
ISA_ALIASES = {"avx2": "AVX2", "avx512": "AVX512_CORE", "amx": "AVX512_CORE_AMX"}
#: The ``ONEDNN_MAX_CPU_ISA`` values of oneDNN 3.2 (TF 2.14), besides ``ALL``.
ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
               "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX",
               "AVX512_CORE_AMX_FP16")
#: Environment variables that the workers do not inherit (set per setting, or they would
#: change the numerics or, with ``*_VERBOSE``, the worker's output).
_CLEARED = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_VERBOSE", "DNNL_VERBOSE",
            "TF_ENABLE_ONEDNN_OPTS")
_SETTING = re.compile(r"onednn([01])-t([1-9][0-9]*)(?:-([a-z0-9_]+))?")


@dataclasses.dataclass(frozen=True)
class Setting:
  """One numerics setting: ``onednn{0,1}-t{threads}[-{isa}]``."""
  onednn: bool
  threads: int
  isa: str | None  # oneDNN ISA cap (a ``ONEDNN_MAX_CPU_ISA`` value), None: native.


def parse_setting(setting: str) -> Setting:
  """Parses ``onednn1-t2``, ``onednn0-t1-avx2``...; raises ``ValueError`` for anything else."""
  match = _SETTING.fullmatch(setting)
  if not match:
    raise ValueError(f"setting {setting!r} is not onednn{{0,1}}-t{{threads}}[-{{isa}}]")
  onednn, threads, isa = match.groups()
  if isa is not None:
    isa = ISA_ALIASES.get(isa, isa.upper())
    if isa not in ONEDNN_ISAS:
      raise ValueError(f"setting {setting!r}: unknown ISA cap (one of "
                       f"{', '.join(sorted(ISA_ALIASES))} or {', '.join(ONEDNN_ISAS).lower()})")
  return Setting(onednn == "1", int(threads), isa)


def environment(setting: str, base: dict[str, str] | None = None) -> dict[str, str]:
  """The environment of a worker for ``setting``, from ``base`` (default: ``os.environ``)."""
  parsed = parse_setting(setting)
  env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _CLEARED}
  env.update(TF_ENABLE_ONEDNN_OPTS=str(int(parsed.onednn)), TF_CPP_MIN_LOG_LEVEL="3")
  if parsed.isa:
    env.update(ONEDNN_MAX_CPU_ISA=parsed.isa, DNNL_MAX_CPU_ISA=parsed.isa)
  return env


FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Zoo model name, SavedModel folder or config name.")
flags.DEFINE_integer("quality", None, "Zoo quality (default: the model's default).")
flags.DEFINE_string("images", None, "Folder of images.")
flags.DEFINE_integer("max_images", 0, "Use only the first N images (0: all).")
flags.DEFINE_string("output", None, "JSON result file (a markdown table is printed).")
flags.DEFINE_list("settings", ["onednn1-t1", "onednn1-t2", "onednn0-t1", "onednn0-t2"],
                  "Numerics settings: onednn{0,1}-t{threads}[-{isa}]: oneDNN off/on "
                  "(TF_ENABLE_ONEDNN_OPTS), intra-op threads and an optional cap of oneDNN's "
                  "run-time ISA (ONEDNN_MAX_CPU_ISA): avx2, avx512 (AVX512_CORE: no AMX, no "
                  "VNNI), amx, or a oneDNN ISA name in lower case (avx512_core_vnni...). "
                  "E.g. onednn1-t1-avx2 emulates an AVX2-only CPU with oneDNN on.")
flags.register_validator("settings", lambda settings: all(map(_valid, settings)),
                         "each setting is onednn{0,1}-t{threads}[-{isa}] with a known isa")
# Internal: one worker process.
flags.DEFINE_enum("role", None, ["encode", "decode"], "Worker role (internal).")
flags.DEFINE_string("work_dir", None, "Worker folder (internal).")
flags.DEFINE_string("tag", None, "Encoder setting of the files to decode (internal).")


def _valid(setting: str) -> bool:
  try:
    parse_setting(setting)
  except ValueError:
    return False
  return True


def _worker(role: str, setting: str, work_dir: str, tag: str | None) -> list[dict]:
  """Runs in the child: compresses all images, or decompresses the files of ``tag``."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfc_swin import api, image_io  # pylint: disable=import-outside-toplevel
  threads = parse_setting(setting).threads
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
  coder = api.load_coder(FLAGS.model, FLAGS.quality)
  records = []
  for path in _images():
    name = os.path.splitext(os.path.basename(path))[0]
    file = os.path.join(work_dir, f"{name}.{tag or setting}.tfsw")
    if role == "encode":
      rgb = image_io.read_rgb(path)
      with open(file, "wb") as f:
        f.write(coder.compress_array(rgb))
      np.save(file + ".npy", coder.decompress_array(open(file, "rb").read())[0])
      continue
    try:
      decoded = coder.decompress_array(open(file, "rb").read())[0]
      same = np.array_equal(decoded, np.load(file + ".npy"))
      diff = int(np.abs(decoded.astype(int) - np.load(file + ".npy")).max())
      records.append({"image": name, "outcome": "ok", "identical": same, "max_diff": diff})
    except Exception as e:  # pylint: disable=broad-except
      records.append({"image": name, "outcome": type(e).__name__, "error": str(e)[:200]})
  return records


def _images() -> list[str]:
  from tfc_swin import image_io  # pylint: disable=import-outside-toplevel
  return [str(p) for p in image_io.list_images(FLAGS.images, FLAGS.max_images or None)]


_PROBE = ("import tensorflow as tf; tf.config.threading.set_intra_op_parallelism_threads(1); "
          "tf.linalg.matmul(tf.ones([64, 64]), tf.ones([64, 64])).numpy()")


def onednn_isa(setting: str) -> str:
  """The ISA that oneDNN reports under ``setting`` (``ONEDNN_VERBOSE``'s ``isa:`` line), from a
  small float32 matmul in a separate process; "" if oneDNN reports none."""
  env = {**environment(setting), "ONEDNN_VERBOSE": "1"}
  out = subprocess.run([sys.executable, "-c", _PROBE], env=env, check=True, capture_output=True,
                       text=True).stdout
  return next((line.split("isa:", 1)[1] for line in out.splitlines()
               if line.startswith(("onednn_verbose,info,cpu,isa:", "dnnl_verbose,info,cpu,isa:"))
               ), "")


def _run(role: str, setting: str, work_dir: str, tag: str | None = None) -> list[dict]:
  args = [sys.executable, os.path.abspath(__file__), f"--model={FLAGS.model}",
          f"--images={FLAGS.images}", f"--max_images={FLAGS.max_images}", f"--role={role}",
          f"--work_dir={work_dir}", f"--settings={setting}"]
  args += [f"--quality={FLAGS.quality}"] if FLAGS.quality is not None else []
  args += [f"--tag={tag}"] if tag else []
  out = subprocess.run(args, env=environment(setting), check=True, capture_output=True,
                       text=True).stdout
  return json.loads(out.strip().splitlines()[-1]) if role == "decode" else []


def main(argv: list[str]) -> None:
  del argv
  if FLAGS.role:
    print(json.dumps(_worker(FLAGS.role, FLAGS.settings[0], FLAGS.work_dir, FLAGS.tag)))
    return
  isas = {setting: onednn_isa(setting) for setting in FLAGS.settings}
  for setting, isa in isas.items():
    print(f"{setting}: oneDNN isa: {isa or '?'}", file=sys.stderr)
  results, seconds, start = [], {}, time.time()
  with tempfile.TemporaryDirectory() as work_dir:
    for setting in FLAGS.settings:
      begin = time.time()
      _run("encode", setting, work_dir)
      seconds[f"encode {setting}"] = round(time.time() - begin, 1)
      print(f"encode {setting} done ({time.time() - start:.0f} s)", file=sys.stderr)
    for encoder, decoder in itertools.product(FLAGS.settings, FLAGS.settings):
      begin = time.time()
      for record in _run("decode", decoder, work_dir, tag=encoder):
        results.append({"encoder": encoder, "decoder": decoder, **record})
      seconds[f"decode {encoder} -> {decoder}"] = round(time.time() - begin, 1)
      print(f"{encoder} -> {decoder} done ({time.time() - start:.0f} s)", file=sys.stderr)
  seconds["total"] = round(time.time() - start, 1)
  counts = collections.Counter((r["encoder"], r["decoder"], r["outcome"]) for r in results)
  rows_out = []
  for encoder, decoder in itertools.product(FLAGS.settings, FLAGS.settings):
    rows = [r for r in results if (r["encoder"], r["decoder"]) == (encoder, decoder)]
    ok = [r for r in rows if r["outcome"] == "ok"]
    failed = {k[2]: v for k, v in counts.items() if k[:2] == (encoder, decoder) and k[2] != "ok"}
    rows_out.append([encoder, decoder, f"{len(ok)}/{len(rows)}", failed or "-",
                     f"{sum(r['identical'] for r in ok)}/{len(ok)}",
                     max([r["max_diff"] for r in ok], default=0)])
  table = markdown_table(
      ["encoder", "decoder", "decoded", "failed (error)", "identical", "max diff"], rows_out,
      numeric=[False, False, True, False, True, True])
  print(table)
  for r in results:
    if r["outcome"] != "ok":
      print(f"FAILED {r['image']}: {r['encoder']} -> {r['decoder']}: {r['outcome']}: "
            f"{r['error']}", file=sys.stderr)
  if FLAGS.output:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w") as f:
      json.dump({"model": FLAGS.model, "quality": FLAGS.quality, "images": FLAGS.images,
                 "settings": FLAGS.settings, "isa": isas, "seconds": seconds,
                 "records": results, "table": table.split("\n")}, f, indent=1)


if __name__ == "__main__":
  flags.mark_flags_as_required(["model", "images"])
  app.run(main)
