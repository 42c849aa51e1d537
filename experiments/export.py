"""Exports trained runs into the versioned zoo, measuring each on Kodak for the manifest.

  python experiments/export.py --name conv-hyperprior-cpu --version 1 \
      --runs runs/conv-hyperprior-cpu-0.003,runs/conv-hyperprior-cpu-0.001,... \
      --kodak ../shared/data/kodak [--default]

Runs are ordered by lambda (largest lambda = lowest rate = quality 1). Each becomes
zoo/<name>/<version>/q<quality>/ (a SavedModel with compress/decompress signatures); the
manifest records config, lambda, steps, training data, TF/TFC versions, file sha256s and the
measured Kodak bpp / PSNR / MS-SSIM.
"""
import os
import sys
import time

import numpy as np
from absl import app, flags

from tfc_swin import fileio, image_io, zoo
from tfc_swin.coder import Coder
from tfc_swin.eval import runner
from tfc_swin.training import history, run_dir

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "Training run folders (with checkpoints/ and "
                  "train_config.json), one per quality.")
flags.DEFINE_string("name", None, "Zoo model name (default: the runs' config name).")
flags.DEFINE_string("version", "1", "Zoo version.")
flags.DEFINE_string("kodak", "", "Folder of evaluation images (Kodak); empty = don't measure.")
flags.DEFINE_boolean("default", False, "Make this model (at --default_quality) the zoo default.")
flags.DEFINE_integer("default_quality", 0, "Quality to make default (0 = the middle one).")
flags.DEFINE_list("remove_versions", [], "Older versions of this model to delete from the "
                  "zoo (folders and manifest entries) after the export.")
flags.mark_flags_as_required(["runs"])


def measure_folder(coder, folder: str) -> dict:
  rows = [runner.measure(coder, image_io.read_rgb(p)) for p in image_io.list_images(folder)]
  return {k: round(float(np.mean([r[k] for r in rows])), 4)
          for k in ("bpp", "psnr", "ms_ssim", "ms_ssim_db")} | {"images": len(rows)}


def main(argv):
  del argv
  configs = [(run, run_dir.read_config(run)) for run in FLAGS.runs]
  models = {c["model"] for _, c in configs}
  if len(models) != 1:
    raise app.UsageError(f"runs mix configs {sorted(models)}")
  name = FLAGS.name or models.pop()
  configs.sort(key=lambda rc: -rc[1]["lmbda"])
  for quality, (run, cfg) in enumerate(configs, start=1):
    ckpt = run_dir.latest_checkpoint(run)
    if not ckpt:
      raise app.UsageError(f"{run}: no checkpoint")
    codec = run_dir.restore_codec(run, ckpt)
    steps = run_dir.checkpoint_step(ckpt)
    stages = history.run_history(run, ckpt)
    record = {"lmbda": cfg["lmbda"], "steps": steps, "training_data": cfg["data"],
              "patch_size": cfg["patch_size"], "batch_size": cfg["batch_size"],
              "learning_rate": cfg["learning_rate"], "checkpoint": os.path.basename(ckpt),
              **history.summarize(stages), "history": stages}
    if FLAGS.kodak:
      t0 = time.time()
      record["kodak"] = measure_folder(Coder.from_codec(codec, f"{name}/{FLAGS.version}/"
                                                        f"q{quality}"), FLAGS.kodak)
      print(f"q{quality}: kodak {record['kodak']} ({time.time() - t0:.0f} s)", file=sys.stderr)
    folder = zoo.add_to_zoo(codec, name, FLAGS.version, quality, record)
    print(f"exported {run} (lambda {cfg['lmbda']}, step {steps}) -> {folder}")
  if FLAGS.default:
    quality = FLAGS.default_quality or (len(configs) + 1) // 2
    fileio.write_json(os.path.join(zoo.root(), "zoo.json"),
                      {"default": {"model": name, "version": FLAGS.version, "quality": quality}})
    print(f"default model: {name} v{FLAGS.version} q{quality}")
  for version in FLAGS.remove_versions:
    zoo.remove_version(name, version)
    print(f"removed {name} v{version}")


if __name__ == "__main__":
  app.run(main)
