"""Exports a trained P-frame video codec (experiments/train_video.py) as a SavedModel.

  python experiments/export_video.py --run runs/swint-ssf-cpu-0.001 \
      --output models/swint-ssf-cpu-0.001 [--name swint-ssf-cpu-0.001]

The folder holds the codec's serving module (signatures ``compress_iframe``,
``compress_pframe``, ``decompress_iframe``, ``decompress_pframe``) and the model-info JSON of
image exports (tfc_swin_model.json: name, config, weights fingerprint, the video config,
strings per frame type and the training run: lambda, step, data). Load it with
``tfc_swin.api.load_video_coder(FOLDER)`` or ``tfc-swin video compress --model FOLDER``; it writes
the same files as the run it came from.
"""
import os

from absl import app, flags

from tfc_swin.codecs import build_video_codec
from tfc_swin.configs import get_video_config
from tfc_swin.training import run_dir
from tfc_swin.video.coder import export_video_codec

FLAGS = flags.FLAGS
flags.DEFINE_string("run", None, "Video training run folder (its latest checkpoint), its "
                    "checkpoints folder or one of its checkpoints.")
flags.DEFINE_string("output", None, "SavedModel folder to write (must not exist).")
flags.DEFINE_string("name", None, "Model name recorded in every file it writes (default: the "
                    "run folder's name and the checkpoint, e.g. swint-ssf-cpu-0.001/ckpt-5000).")


def export(source: str, output: str, name: str | None = None) -> str:
  """Exports the checkpoint of ``source`` to ``output``; returns the model name."""
  run, checkpoint = run_dir.locate(source)
  cfg = run_dir.read_config(run)
  codec = build_video_codec(cfg["model"])
  codec.restore(checkpoint)
  steps = run_dir.checkpoint_step(checkpoint)
  name = name or f"{os.path.basename(os.path.normpath(run))}/{os.path.basename(checkpoint)}"
  description = (f"{get_video_config(cfg['model']).description}, lambda {cfg['lmbda']}, "
                 f"{steps} training steps on {cfg['data']}")
  export_video_codec(codec, output, name, description, {"training": {
      "run": os.path.abspath(run), "checkpoint": os.path.basename(checkpoint), "steps": steps,
      "lmbda": cfg["lmbda"], "data": cfg["data"], "frames": cfg.get("frames")}})
  return name


def main(argv):
  del argv
  name = export(FLAGS.run, FLAGS.output, FLAGS.name)
  print(f"exported {FLAGS.run} as {name} -> {FLAGS.output}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["run", "output"])  # here, so that tests can import the module
  app.run(main)
