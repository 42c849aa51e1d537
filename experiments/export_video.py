"""Exports trained P-frame video codecs (experiments/train_video.py): one run as a SavedModel
folder, or several runs (one per quality) into the versioned zoo.

  python experiments/export_video.py --run runs/swint-ssf-cpu-0.001 \
      --output models/swint-ssf-cpu-0.001 [--name swint-ssf-cpu-0.001]
  python experiments/export_video.py --runs runs/swint-ssf-cpu-0.003,runs/swint-ssf-cpu-0.001 \
      --version 1 [--name swint-ssf-cpu] [--default [--default_quality 2]] [--remove_versions 0]

The folder holds the codec's serving module (signatures ``compress_iframe``,
``compress_pframe``, ``decompress_iframe``, ``decompress_pframe``) and the model-info JSON of
image exports (tfc_swin_model.json: name, config, weights fingerprint, the video config,
strings per frame type and the training run: lambda, step, data). Load it with
``tfc_swin.api.load_video_coder(FOLDER)`` or ``tfc-swin video compress --model FOLDER``; it writes
the same files as the run it came from.

With ``--runs`` the runs (of one config) are ordered by lambda as in experiments/export.py
(largest lambda = quality 1 = lowest rate) and each becomes ``zoo/<name>/<version>/q<quality>/``
with its manifest record (kind "video", lambda, steps, training data, clip length, history,
sha256 of every file); ``tfc-swin video compress --model NAME --quality Q`` then uses it.
``--default`` makes it (at ``--default_quality``, default the middle quality) the zoo's video
default (``video_default`` in zoo/zoo.json; the image default stays), which ``tfc-swin video
compress`` without ``--model`` uses.
"""
import os

from absl import app, flags

from tfc_swin import zoo
from tfc_swin.codecs import build_video_codec
from tfc_swin.codecs.video import PFrameCodec
from tfc_swin.configs import get_video_config
from tfc_swin.training import run_dir, zoo_export
from tfc_swin.video.coder import export_video_codec

FLAGS = flags.FLAGS
flags.DEFINE_string("run", None, "Video training run folder (its latest checkpoint), its "
                    "checkpoints folder or one of its checkpoints.")
flags.DEFINE_string("output", None, "SavedModel folder to write (must not exist).")
flags.DEFINE_string("name", None, "Model name recorded in every file it writes (default: the "
                    "run folder's name and the checkpoint, e.g. swint-ssf-cpu-0.001/ckpt-5000); "
                    "with --runs the zoo model name (default: the runs' config name).")
flags.DEFINE_list("runs", None, "Video training run folders of one config, one per quality, "
                  "exported into the zoo (instead of --run / --output).")
flags.DEFINE_string("version", "1", "Zoo version (with --runs).")
flags.DEFINE_boolean("default", False, "Make this zoo model (at --default_quality) the zoo's "
                     "video default (with --runs).")
flags.DEFINE_integer("default_quality", 0, "Quality to make default (0 = the middle one).")
flags.DEFINE_list("remove_versions", [], "Older versions of this zoo model to delete (folders "
                  "and manifest entries) after the export (with --runs).")


def restore_run_codec(run: str, checkpoint: str) -> PFrameCodec:
  """The P-frame codec of a video run with the weights of ``checkpoint``."""
  codec = build_video_codec(run_dir.read_config(run)["model"])
  codec.restore(checkpoint)
  return codec


def export(source: str, output: str, name: str | None = None) -> str:
  """Exports the checkpoint of ``source`` to ``output``; returns the model name."""
  run, checkpoint = run_dir.locate(source)
  cfg = run_dir.read_config(run)
  codec = restore_run_codec(run, checkpoint)
  steps = run_dir.checkpoint_step(checkpoint)
  name = name or f"{os.path.basename(os.path.normpath(run))}/{os.path.basename(checkpoint)}"
  description = (f"{get_video_config(cfg['model']).description}, lambda {cfg['lmbda']}, "
                 f"{steps} training steps on {cfg['data']}")
  export_video_codec(codec, output, name, description, {"training": {
      "run": os.path.abspath(run), "checkpoint": os.path.basename(checkpoint), "steps": steps,
      "lmbda": cfg["lmbda"], "data": cfg["data"], "frames": cfg.get("frames")}})
  return name


def export_to_zoo(runs: list[str], version: str, name: str | None = None,
                  remove_versions: list[str] = (), default: bool = False,
                  default_quality: int | None = None) -> str:
  """Exports the runs as the qualities of zoo video model ``name`` ``version``; if
  ``default``, makes it (at ``default_quality``, None: the middle one) the zoo's video
  default; then deletes ``remove_versions``. Returns the model name."""
  name, _ = zoo_export.export_runs(runs, version, name, restore=restore_run_codec)
  if default:
    chosen = zoo.set_default(name, version, default_quality)
    print(f"default video model: {name} v{chosen['version']} q{chosen['quality']}")
  for old in remove_versions:
    zoo.remove_version(name, old)
    print(f"removed {name} v{old}")
  return name


def main(argv: list[str]) -> None:
  del argv
  if FLAGS.runs:
    if FLAGS.run or FLAGS.output:
      raise app.UsageError("--runs exports into the zoo: no --run / --output")
    try:
      export_to_zoo(FLAGS.runs, FLAGS.version, FLAGS.name, FLAGS.remove_versions,
                    FLAGS.default, FLAGS.default_quality or None)
    except ValueError as e:  # mixed configs, a run without checkpoint
      raise app.UsageError(str(e)) from e
    return
  if not (FLAGS.run and FLAGS.output):
    raise app.UsageError("pass --run and --output (a SavedModel folder), or --runs (the zoo)")
  if FLAGS.default or FLAGS.default_quality:
    raise app.UsageError("--default / --default_quality are for zoo exports (--runs)")
  name = export(FLAGS.run, FLAGS.output, FLAGS.name)
  print(f"exported {FLAGS.run} as {name} -> {FLAGS.output}")


if __name__ == "__main__":
  app.run(main)
