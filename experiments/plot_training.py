"""Training curves (validation PSNR and bpp over steps) of runs or shipped zoo models.

  python experiments/plot_training.py --runs runs/a,runs/b --output curves.png
  python experiments/plot_training.py --zoo swint-hyperprior-cpu --output curves.png
  python experiments/plot_training.py --zoo swint-hyperprior-cpu --x_axis hours \
      --output results/training/swint-hyperprior-cpu-hours.png
  python experiments/plot_training.py --runs runs/a,runs/b --x_axis hours --output ab.png \
      --table ab.md

Each curve follows the run's ``--init_from`` chain back to its first stage (zoo models keep
theirs in the manifest), so steps count from the start of training. Points come from
``--eval_data`` validation; stages trained without it leave gaps. With ``--x_axis hours`` the
axis is the wall-clock time progress.json tracked (stages trained before it count 0 h) and a
third panel shows each stage's steps/s.
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

from tfc_swin import fileio, zoo
from tfc_swin.eval import plots
from tfc_swin.eval.tables import markdown_table
from tfc_swin.training import history, run_dir

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", [], "Training run folders.")
flags.DEFINE_string("zoo", "", "A zoo model name: plots every quality of its latest version.")
flags.DEFINE_string("version", "latest", "Zoo version (with --zoo).")
flags.DEFINE_enum("x_axis", "step", ["step", "hours"], "Horizontal axis: training steps or "
                  "tracked wall-clock hours (then a steps/s panel is added).")
flags.DEFINE_string("output", None, "PNG path.")
flags.DEFINE_string("table", "", "Also write the runs' validation points as a markdown table "
                    "here (with --runs; an A/B of runs at one lambda, e.g. issue 15's fixes).")
flags.mark_flags_as_required(["output"])


def validation_table(runs: list[str]) -> str:
  """Validation points of ``runs`` with each run's RD cost J = MSE + lambda * bits per 256 x
  256 pixels (the training loss's units, App. B.1; MSE from the mean PSNR)."""
  rows = []
  for run in runs:
    cfg = run_dir.read_config(run)
    setup = ", ".join(f"{k} {cfg[k]}" for k in ("transform_options", "lr_schedule",
                                                 "learning_rate", "clip_norm") if cfg.get(k))
    for p in history.validation_curve(history.run_history(run)):
      mse = 255.0 ** 2 / 10 ** (p["psnr"] / 10)
      rows.append([os.path.basename(os.path.normpath(run)), setup, p["step"],
                   f"{p['hours']:.2f}", f"{p['psnr']:.3f}", f"{p['bpp']:.4f}",
                   f"{mse + cfg['lmbda'] * p['bpp'] * 256 * 256:.2f}"])
  return markdown_table(["run", "set-up", "step", "hours", "PSNR (dB)", "bpp",
                         "J = MSE + lambda R"], rows, [False, False] + [True] * 5)


def main(argv: list[str]) -> None:
  del argv
  curves, speeds = {}, {}
  for run in FLAGS.runs:
    label = os.path.basename(os.path.normpath(run))
    stages = history.run_history(run)
    curves[label], speeds[label] = history.validation_curve(stages), history.speed_curve(stages)
  if FLAGS.zoo:
    version, records = zoo.version_records(FLAGS.zoo, FLAGS.version)
    for quality, record in sorted(records.items(), key=lambda qr: int(qr[0])):
      label = f"{FLAGS.zoo} v{version} q{quality} (lambda {record['lmbda']})"
      stages = record.get("history") or []
      curves[label], speeds[label] = history.validation_curve(stages), history.speed_curve(stages)
  if not curves:
    raise app.UsageError("give --runs and/or --zoo")
  empty = [label for label, points in curves.items() if not points]
  if empty:
    print(f"no validation points (trained without --eval_data): {', '.join(empty)}",
          file=sys.stderr)
  hours = FLAGS.x_axis == "hours"
  print(plots.plot_training(curves, FLAGS.output, FLAGS.zoo or "", FLAGS.x_axis,
                            speeds if hours else None))
  if FLAGS.table:
    fileio.write_text(FLAGS.table, validation_table(FLAGS.runs) + "\n")
    print(FLAGS.table)


if __name__ == "__main__":
  app.run(main)
