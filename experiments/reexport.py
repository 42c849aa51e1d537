"""Re-exports a zoo version with the current code: same weights, new coding graphs.

Use when the code that runs the weights changes (a faster attention, float64 entropy
parameters) but the weights do not: each quality's codec is rebuilt from the config stored in
its SavedModel (tfc_swin.codecs.restore_codec; for video models
tfc_swin.codecs.video.restore_video_codec), exported as a new version with the old manifest
records (lambda, steps, history) and measured again on the evaluation folder (image models
only; video records have no Kodak numbers).

  python experiments/reexport.py --name swint-hyperprior-cpu --from_version 3 --version 4 \
      --kodak ../shared/data/kodak --remove_old

``--coding_options bfloat16_matmuls=true`` (or ``fused_elementwise=true``) exports coding graphs
that run g_a / g_s that way, ``float32_entropy_parameters=true`` ones with h_s and the ChARM
networks in float32 (files then not portable, docs/robustness.md); ``ImageCodec.CODING_OPTIONS``,
the weights stay the same.
"""
import os

from absl import app, flags

from tfc_swin import zoo
from tfc_swin.codecs import restore_codec
from tfc_swin.codecs.image import CODING_OPTIONS, set_coding_options
from tfc_swin.codecs.video import restore_video_codec
from tfc_swin.coder import Coder
from tfc_swin.eval import runner

FLAGS = flags.FLAGS
flags.DEFINE_string("name", None, "Zoo model name.")
flags.DEFINE_string("from_version", None, "Version whose weights are re-exported.")
flags.DEFINE_string("version", None, "New version.")
flags.DEFINE_string("kodak", "", "Folder of evaluation images; empty = keep the old numbers.")
flags.DEFINE_boolean("remove_old", False, "Delete the old version afterwards (the zoo's default "
                     "of the model's kind, image or video, moves to the new version first if it "
                     "pointed at the old one).")
flags.DEFINE_string("note", "re-exported with the current code (same weights)",
                    "Why, recorded in the manifest.")
flags.DEFINE_list("coding_options", [], f"NAME=true|false of {', '.join(CODING_OPTIONS)}: how "
                  "the new coding graphs run (default: as the old version's).")


def parse_coding_options(items: list[str]) -> dict[str, bool]:
  """``["bfloat16_matmuls=true"]`` -> ``{"bfloat16_matmuls": True}``; ``UsageError`` if bad."""
  options = {}
  for item in items:
    name, _, value = item.partition("=")
    if name not in CODING_OPTIONS or value.lower() not in ("true", "false"):
      raise app.UsageError(f"bad --coding_options entry {item!r}: use NAME=true|false with "
                           f"NAME one of {', '.join(CODING_OPTIONS)}")
    options[name] = value.lower() == "true"
  return options


def move_default(name: str, old: str, new: str) -> None:
  """Points the zoo default of ``name``'s kind at version ``new`` if it is at ``old``."""
  model_kind = zoo.kind(name)
  chosen = zoo.default(model_kind, missing_ok=True)
  if (chosen.get("model"), chosen.get("version")) == (name, old):
    zoo.set_default(name, new, chosen["quality"])
    print(f"default {model_kind} model: {name} v{new} q{chosen['quality']}")


def main(argv: list[str]) -> None:
  del argv
  is_video = zoo.kind(FLAGS.name) == zoo.VIDEO_MODEL_KIND
  restore = restore_video_codec if is_video else restore_codec
  if is_video and FLAGS.kodak:
    print(f"{FLAGS.name} is a video model: no Kodak measurement (--kodak ignored)")
  options = parse_coding_options(FLAGS.coding_options)
  from_version, records = zoo.version_records(FLAGS.name, FLAGS.from_version)
  for quality, record in sorted(records.items(), key=lambda qr: int(qr[0])):
    codec = restore(os.path.join(zoo.root(), FLAGS.name, from_version, f"q{quality}"))
    set_coding_options(codec, **options)
    new = {k: v for k, v in record.items()
           if k not in ("files", "fingerprint", "exported", "tensorflow",
                        "tensorflow_compression")}
    new["reexported_from"] = {"version": from_version, "note": FLAGS.note}
    if FLAGS.kodak and not is_video:
      new["kodak"] = runner.measure_folder(Coder.from_codec(codec, FLAGS.name), FLAGS.kodak)
    folder = zoo.add_to_zoo(codec, FLAGS.name, FLAGS.version, int(quality), new)
    print(f"q{quality}: {folder} {new.get('kodak', '')}")
  if FLAGS.remove_old:
    move_default(FLAGS.name, from_version, FLAGS.version)
    zoo.remove_version(FLAGS.name, from_version)


if __name__ == "__main__":
  flags.mark_flags_as_required(["name", "from_version", "version"])  # here: tests import it
  app.run(main)
