"""Training curves (validation PSNR and bpp over steps) of runs or shipped zoo models.

  python experiments/plot_training.py --runs runs/a,runs/b --output curves.png
  python experiments/plot_training.py --zoo swint-hyperprior-cpu --output curves.png

Each curve follows the run's ``--init_from`` chain back to its first stage (zoo models keep
theirs in the manifest), so steps count from the start of training. Points come from
``--eval_data`` validation; stages trained without it leave gaps.
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

from tfc_swin import zoo
from tfc_swin.eval import plots
from tfc_swin.training import history

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", [], "Training run folders.")
flags.DEFINE_string("zoo", "", "A zoo model name: plots every quality of its latest version.")
flags.DEFINE_string("version", "latest", "Zoo version (with --zoo).")
flags.DEFINE_string("output", None, "PNG path.")
flags.mark_flags_as_required(["output"])


def main(argv: list[str]) -> None:
  del argv
  curves = {}
  for run in FLAGS.runs:
    stages = history.run_history(run)
    curves[os.path.basename(os.path.normpath(run))] = history.validation_curve(stages)
  if FLAGS.zoo:
    version, records = zoo.version_records(FLAGS.zoo, FLAGS.version)
    for quality, record in sorted(records.items(), key=lambda qr: int(qr[0])):
      label = f"{FLAGS.zoo} v{version} q{quality} (lambda {record['lmbda']})"
      curves[label] = history.validation_curve(record.get("history") or [])
  if not curves:
    raise app.UsageError("give --runs and/or --zoo")
  empty = [label for label, points in curves.items() if not points]
  if empty:
    print(f"no validation points (trained without --eval_data): {', '.join(empty)}",
          file=sys.stderr)
  print(plots.plot_training(curves, FLAGS.output, FLAGS.zoo or ""))


if __name__ == "__main__":
  app.run(main)
