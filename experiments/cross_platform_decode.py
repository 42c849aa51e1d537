"""Files decode everywhere: encode under one TF numerics setting, decode under every other.

Each setting is a separate process with its own environment: oneDNN on or off
(``TF_ENABLE_ONEDNN_OPTS``) and 1 or 2 intra-op threads. Every image is compressed once per
setting, and every file is decompressed under every setting; the result table counts files
that decode, and for those that do not, the error. Float32 kernels differ between these
settings as they do between CPUs, GPUs and TF builds (tfc_swin/layers/precision.py).

  python experiments/cross_platform_decode.py --model swint-hyperprior-cpu \
      --images ../shared/data/kodak --output results/cross_platform/swint-hyperprior-cpu.json
"""
from __future__ import annotations

import collections
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from tfc_swin.eval.tables import markdown_table

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Zoo model name, SavedModel folder or config name.")
flags.DEFINE_integer("quality", None, "Zoo quality (default: the model's default).")
flags.DEFINE_string("images", None, "Folder of images.")
flags.DEFINE_integer("max_images", 0, "Use only the first N images (0: all).")
flags.DEFINE_string("output", None, "JSON result file (a markdown table is printed).")
flags.DEFINE_list("settings", ["onednn1-t1", "onednn1-t2", "onednn0-t1", "onednn0-t2"],
                  "Numerics settings: onednn{0,1}-t{threads}.")
# Internal: one worker process.
flags.DEFINE_enum("role", None, ["encode", "decode"], "Worker role (internal).")
flags.DEFINE_string("work_dir", None, "Worker folder (internal).")
flags.DEFINE_string("tag", None, "Encoder setting of the files to decode (internal).")


def _environment(setting: str) -> tuple[dict[str, str], int]:
  onednn, threads = setting.split("-")
  env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn[-1], "TF_CPP_MIN_LOG_LEVEL": "3"}
  return env, int(threads[1:])


def _worker(role: str, setting: str, work_dir: str, tag: str | None) -> list[dict]:
  """Runs in the child: compresses all images, or decompresses the files of ``tag``."""
  import numpy as np  # pylint: disable=import-outside-toplevel
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from tfc_swin import api, image_io  # pylint: disable=import-outside-toplevel
  _, threads = _environment(setting)
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


def _run(role: str, setting: str, work_dir: str, tag: str | None = None) -> list[dict]:
  env, _ = _environment(setting)
  args = [sys.executable, os.path.abspath(__file__), f"--model={FLAGS.model}",
          f"--images={FLAGS.images}", f"--max_images={FLAGS.max_images}", f"--role={role}",
          f"--work_dir={work_dir}", f"--settings={setting}"]
  args += [f"--quality={FLAGS.quality}"] if FLAGS.quality is not None else []
  args += [f"--tag={tag}"] if tag else []
  out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1]) if role == "decode" else []


def main(argv):
  del argv
  if FLAGS.role:
    print(json.dumps(_worker(FLAGS.role, FLAGS.settings[0], FLAGS.work_dir, FLAGS.tag)))
    return
  results, start = [], time.time()
  with tempfile.TemporaryDirectory() as work_dir:
    for setting in FLAGS.settings:
      _run("encode", setting, work_dir)
    for encoder, decoder in itertools.product(FLAGS.settings, FLAGS.settings):
      for record in _run("decode", decoder, work_dir, tag=encoder):
        results.append({"encoder": encoder, "decoder": decoder, **record})
      print(f"{encoder} -> {decoder} done ({time.time() - start:.0f} s)", file=sys.stderr)
  counts = collections.Counter((r["encoder"], r["decoder"], r["outcome"]) for r in results)
  rows_out = []
  for encoder, decoder in itertools.product(FLAGS.settings, FLAGS.settings):
    rows = [r for r in results if (r["encoder"], r["decoder"]) == (encoder, decoder)]
    ok = [r for r in rows if r["outcome"] == "ok"]
    failed = {k[2]: v for k, v in counts.items() if k[:2] == (encoder, decoder) and k[2] != "ok"}
    rows_out.append([encoder, decoder, f"{len(ok)}/{len(rows)}", failed or "-",
                     max([r["max_diff"] for r in ok], default=0)])
  table = markdown_table(["encoder", "decoder", "decoded", "failed (error)", "max diff"],
                         rows_out, numeric=[False, False, True, False, True])
  print(table)
  if FLAGS.output:
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True)
    with open(FLAGS.output, "w") as f:
      json.dump({"model": FLAGS.model, "quality": FLAGS.quality, "images": FLAGS.images,
                 "settings": FLAGS.settings, "records": results,
                 "table": table.split("\n")}, f, indent=1)


if __name__ == "__main__":
  flags.mark_flags_as_required(["model", "images"])
  app.run(main)
