"""Exports trained runs into the versioned zoo, measuring each on Kodak for the manifest.

  python experiments/export.py --name conv-hyperprior-cpu --version 1 \
      --runs runs/conv-hyperprior-cpu-0.003,runs/conv-hyperprior-cpu-0.001,... \
      --kodak ../shared/data/kodak [--default]

Runs are ordered by lambda (largest lambda = lowest rate = quality 1). Each becomes
zoo/<name>/<version>/q<quality>/ (a SavedModel with compress/decompress signatures); the
manifest records config, lambda, steps, training data, TF/TFC versions, file sha256s and the
measured Kodak bpp / PSNR / MS-SSIM.
"""
import sys
import time

from absl import app, flags

from tfc_swin import zoo
from tfc_swin.codecs import ImageCodec
from tfc_swin.coder import Coder
from tfc_swin.eval import runner
from tfc_swin.training import zoo_export

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", None, "Training run folders (with checkpoints/ and "
                  "train_config.json), one per quality; an earlier export "
                  "(zoo/<name>/<version>/q<q>) may stand for a run whose folder is gone.")
flags.DEFINE_string("name", None, "Zoo model name (default: the runs' config name).")
flags.DEFINE_string("version", "1", "Zoo version.")
flags.DEFINE_string("kodak", "", "Folder of evaluation images (Kodak); empty = don't measure.")
flags.DEFINE_boolean("default", False, "Make this model (at --default_quality) the zoo's "
                     "image default (a video default in zoo/zoo.json stays).")
flags.DEFINE_integer("default_quality", 0, "Quality to make default (0 = the middle one).")
flags.DEFINE_list("remove_versions", [], "Older versions of this model to delete from the "
                  "zoo (folders and manifest entries) after the export.")
flags.mark_flags_as_required(["runs"])


def measure_kodak(codec: ImageCodec, model_name: str) -> dict[str, dict[str, float | int]]:
  """The manifest's ``kodak`` record of a codec."""
  t0 = time.time()
  kodak = runner.measure_folder(Coder.from_codec(codec, model_name), FLAGS.kodak)
  print(f"{model_name}: kodak {kodak} ({time.time() - t0:.0f} s)", file=sys.stderr)
  return {"kodak": kodak}


def main(argv: list[str]) -> None:
  del argv
  try:
    name, _ = zoo_export.export_runs(FLAGS.runs, FLAGS.version, FLAGS.name,
                                     measure=measure_kodak if FLAGS.kodak else None)
  except ValueError as e:  # mixed configs, a run without checkpoint
    raise app.UsageError(str(e)) from e
  if FLAGS.default:
    chosen = zoo.set_default(name, FLAGS.version, FLAGS.default_quality or None)
    print(f"default model: {name} v{chosen['version']} q{chosen['quality']}")
  for version in FLAGS.remove_versions:
    zoo.remove_version(name, version)
    print(f"removed {name} v{version}")


if __name__ == "__main__":
  app.run(main)
