"""Predicted AICT resize factor s against lambda, per image set (Ghorbel et al. 2023, Fig. 10).

  python experiments/plot_resize_scales.py --models aict-cpu \
      --datasets ../shared/data/kodak --output_dir results/aict

``--models``: zoo model names (every quality of the latest version; lambda from the manifest)
or ``SPEC@LAMBDA``, SPEC an exported SavedModel folder, a training run or a config name
(untrained weights, seed 0). For every model and image the resize network's s (before the
grid) and the coded scale (the grid level in the file; 1 when the module is skipped) go to
``resize_scales.json``; ``resize_scales.png`` is a box plot of s per lambda, one box per
image set (``--datasets``, named by their folders), with the skip threshold dashed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from absl import app, flags
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tfc_swin import fileio, image_io, zoo
from tfc_swin.codecs import build_codec, restore_codec
from tfc_swin.codecs.scale_adaptive import ScaleAdaptiveCodec
from tfc_swin.configs import ScaleAdaptation, config_names
from tfc_swin.training.warm_start import load_source

FLAGS = flags.FLAGS
flags.DEFINE_list("models", None, "Zoo model names and/or SPEC@LAMBDA (SavedModel folder, "
                  "training run or config name).")
flags.DEFINE_list("datasets", ["../shared/data/kodak"], "Image folders (one box each).")
flags.DEFINE_integer("max_images", None, "At most this many (sorted) images per folder.")
flags.DEFINE_string("output_dir", "results/aict", "Folder for resize_scales.png / .json.")


def _codec(spec: str) -> ScaleAdaptiveCodec:
  if spec in config_names():
    tf.keras.utils.set_random_seed(0)
    return build_codec(spec)
  return load_source(spec)[0]


def load_models(spec: str) -> list[tuple[str, float, ScaleAdaptiveCodec]]:
  """(name, lambda, codec) of a zoo model's qualities, or of one ``SPEC@LAMBDA``."""
  if spec in zoo.models():
    version, records = zoo.version_records(spec)
    return [(f"{spec}/{version}/q{q}", float(r["lmbda"]),
             restore_codec(os.path.join(zoo.root(), spec, version, f"q{q}")))
            for q, r in sorted(records.items(), key=lambda kv: int(kv[0]))]
  path, sep, lmbda = spec.rpartition("@")
  if not sep:
    raise app.UsageError(f"{spec}: not a zoo model; give SPEC@LAMBDA")
  return [(os.path.normpath(path), float(lmbda), _codec(path))]


def predicted_scales(codec: ScaleAdaptiveCodec, image: np.ndarray) -> dict[str, Any]:
  """The resize network's s of a uint8 image and what the file would carry."""
  s = codec.predict_scale(tf.cast(image[None], tf.float32))[0]
  code = codec.code_from_scale(s)
  return {"s": float(s), "code": int(code), "coded_scale": float(codec.scale_from_code(code))}


def plot(records: list[dict[str, Any]], datasets: list[str], adaptation: ScaleAdaptation,
         path: Path) -> None:
  """Box plot of s per lambda (x, sorted categories), one box per image set; the y axis
  spans the scale range of ``adaptation``, whose skip threshold is dashed."""
  lambdas = sorted({r["lambda"] for r in records})
  figure = Figure(figsize=(2.0 + 1.2 * len(lambdas), 4.0))
  ax = figure.add_subplot()
  width = 0.8 / len(datasets)
  colors = [f"C{i}" for i in range(len(datasets))]
  for i, dataset in enumerate(datasets):
    data = [[r["s"] for r in records if r["dataset"] == dataset and r["lambda"] == lmbda]
            for lmbda in lambdas]
    positions = np.arange(len(lambdas)) - 0.4 + width * (i + 0.5)
    boxes = ax.boxplot(data, positions=positions, widths=0.9 * width, patch_artist=True,
                       flierprops={"marker": "o", "markersize": 3})
    for box in boxes["boxes"]:
      box.set_facecolor(colors[i])
      box.set_alpha(0.6)
  skip = ax.axhline(adaptation.skip_above, color="gray", linestyle="--", linewidth=1)
  ax.set_xticks(range(len(lambdas)), [f"{lmbda:g}" for lmbda in lambdas])
  ax.set_xlim(-0.6, len(lambdas) - 0.4)
  ax.set_ylim(adaptation.min_scale - 0.03, 1.03)
  ax.set_xlabel("lambda")
  ax.set_ylabel("predicted resize factor s")
  ax.legend([Patch(color=c, alpha=0.6) for c in colors] + [skip],
            datasets + [f"skip above {adaptation.skip_above:g}"], fontsize="small")
  ax.grid(axis="y", alpha=0.3)
  path.parent.mkdir(parents=True, exist_ok=True)
  FigureCanvasAgg(figure)
  figure.savefig(path, dpi=120, bbox_inches="tight")


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  models = [m for spec in FLAGS.models for m in load_models(spec)]
  for name, _, codec in models:
    if not isinstance(codec, ScaleAdaptiveCodec):
      raise app.UsageError(f"{name} ({codec.config.name}) is not an AICT model")
  datasets = [os.path.basename(os.path.normpath(d)) for d in FLAGS.datasets]
  records = []
  for folder, dataset in zip(FLAGS.datasets, datasets):
    for path in image_io.list_images(folder, FLAGS.max_images):
      image = image_io.read_rgb(path)
      for name, lmbda, codec in models:
        records.append({"model": name, "lambda": lmbda, "dataset": dataset,
                        "image": path.name, "height": image.shape[0],
                        "width": image.shape[1], **predicted_scales(codec, image)})
    print(f"{dataset}: s of {len(records)} (model, image) pairs so far", flush=True)
  output = Path(FLAGS.output_dir)
  plot(records, datasets, models[0][2].config.wrapper, output / "resize_scales.png")
  info = [{"model": name, "lambda": lmbda, "config": codec.config.to_dict()}
          for name, lmbda, codec in models]
  fileio.write_text(output / "resize_scales.json",
                    json.dumps({"models": info, "records": records}, indent=1))
  print(f"wrote {output / 'resize_scales.png'} and {output / 'resize_scales.json'}")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  flags.mark_flags_as_required(["models"])  # here, so that tests can import the module
  main()
