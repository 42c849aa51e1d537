"""BD-rate / BD-PSNR of test results against an anchor (paper App. C, per image).

  python experiments/bdrate.py --anchor results/kodak/jpeg420.json \
      --test results/kodak/webp.json [--metric psnr|ms_ssim_db] [--min 30 --max 44]

Inputs are results JSONs or CSVs (``external:PATH`` accepted). See docs/evaluation.md.
"""
from __future__ import annotations


from absl import app, flags

from tfc_swin.eval import bdrate, results

FLAGS = flags.FLAGS
QUALITY_LABELS = {"psnr": "BD-PSNR", "ms_ssim_db": "BD-MS-SSIM-dB"}
flags.DEFINE_string("anchor", None, "Anchor results (JSON or CSV, optionally external:PATH).")
flags.DEFINE_list("test", None, "Test results, comma-separated (JSON or CSV).")
flags.DEFINE_enum("metric", "psnr", list(bdrate.METRICS), "Quality metric of the curves.")
flags.DEFINE_float("min", None, "Lower end of the BD-rate quality window "
                   "(default 30 for psnr, unbounded for ms_ssim_db).")
flags.DEFINE_float("max", None, "Upper end of the BD-rate quality window "
                   "(default 44 for psnr, unbounded for ms_ssim_db).")
flags.DEFINE_bool("skip_nonoverlapping", False, "Skip (and count) images whose curves do "
                  "not overlap instead of failing.")
flags.DEFINE_bool("per_image", False, "Also print the per-image values.")
flags.mark_flags_as_required(["anchor", "test"])


def _report(delta: bdrate.DatasetDelta, unit: str) -> None:
  label = "BD-rate" if delta.kind == "bd_rate" else QUALITY_LABELS[delta.metric]
  print(f"  {label}: {delta.mean:+.3f}{unit} (mean over {len(delta.per_image)} images"
        + (f", {len(delta.skipped)} skipped as non-overlapping)" if delta.skipped else ")"))
  for image, reason in delta.skipped.items():
    print(f"    skipped {image}: {reason}")
  if FLAGS.per_image:
    for image, value in delta.per_image.items():
      print(f"    {image}: {value:+.3f}{unit}")


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  anchor = results.load_results(FLAGS.anchor)
  lo, hi = bdrate.default_range(FLAGS.metric)
  lo = lo if FLAGS.min is None else FLAGS.min
  hi = hi if FLAGS.max is None else FLAGS.max
  for spec in FLAGS.test:
    test = results.load_results(spec)
    print(f"{test['name']} vs anchor {anchor['name']} ({FLAGS.metric}, BD-rate window "
          f"[{lo:g}, {hi:g}])")
    rate = bdrate.bd_rate_results(anchor, test, FLAGS.metric, lo, hi, FLAGS.skip_nonoverlapping)
    if rate.unmatched:
      print(f"  warning: images in only one of the two results (ignored): {rate.unmatched}")
    _report(rate, "%")
    _report(bdrate.bd_psnr_results(anchor, test, FLAGS.metric, FLAGS.skip_nonoverlapping),
            " dB")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
