"""Rate-distortion evaluation of a codec family on an image folder.

  python experiments/evaluate.py --codec jpeg420 --images ../shared/data/kodak \
      --output results/kodak/jpeg420.json

Writes the results JSON and a CSV with the same stem; resumes from an existing
output or ``<stem>.partial.json`` checkpoint. See docs/evaluation.md.
"""
from __future__ import annotations

from pathlib import Path

from absl import app, flags

from tfc_swin import image_io
from tfc_swin.eval import runner
from tfc_swin.eval.resolve import resolve

FLAGS = flags.FLAGS
flags.DEFINE_string("codec", None, "Codec spec: anchor name (jpeg420, jpeg444, webp, jpeg2000, "
                    "avif, hevc444), zoo name, SavedModel path or config name.")
flags.DEFINE_string("images", None, "Folder of images (png/jpg/jpeg/ppm/bmp/webp), sorted.")
flags.DEFINE_string("output", None, "Results JSON path; the CSV is written next to it.")
flags.DEFINE_list("qualities", None, "Optional subset of quality labels to evaluate.")
flags.DEFINE_integer("limit", None, "Optional number of (sorted) images to evaluate.")
flags.mark_flags_as_required(["codec", "images", "output"])


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  try:
    name, points = resolve(FLAGS.codec)
  except ValueError as error:
    raise app.UsageError(str(error)) from error
  images = image_io.list_images(FLAGS.images, FLAGS.limit)
  result = runner.evaluate(name, points, images, FLAGS.output, qualities=FLAGS.qualities,
                           dataset=Path(FLAGS.images).resolve().name)
  print(f"{name}: {len(result['images'])} images, wrote {FLAGS.output} and "
        f"{Path(FLAGS.output).with_suffix('.csv')}")
  for row in result["results"]["averages"]:
    print(f"  q={row['quality']:>6}  bpp={row['bpp']:.4f}  psnr={row['psnr']:.3f}  "
          f"ms_ssim_db={row['ms_ssim_db']:.3f}  enc={row['encoding_time']:.3f}s  "
          f"dec={row['decoding_time']:.3f}s")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
