"""Complexity profile (parameters, GMACs, peak memory) of codecs, like Zhu et al. Tables 3-4.

  python experiments/profile.py --models swint-hyperprior,conv-hyperprior \
      --height 512 --width 768 --output results/complexity/paper.md

``--models`` takes image and video (P-frame) config names; video codecs get parameters per part
and I-/P-frame GMACs (``complexity.profile_video_codec``), no peak memory.

Writes a markdown report and a JSON file (``--json``, default: the output with .json).
See docs/complexity.md for the MAC counting convention and what the memory column measures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from absl import app, flags

from tfc_swin import fileio
from tfc_swin.configs import config_names, video_config_names
from tfc_swin.profiling import complexity

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["conv-hyperprior", "conv-charm", "swint-hyperprior", "swint-charm"],
                  "Image or video config names to profile.")
flags.DEFINE_integer("height", 512, "Image height (padded to a multiple of 64 by the codec).")
flags.DEFINE_integer("width", 768, "Image width (padded to a multiple of 64 by the codec).")
flags.DEFINE_string("output", "results/complexity/paper.md", "Markdown report path.")
flags.DEFINE_string("json", None, "JSON results path (default: --output with .json).")
flags.DEFINE_bool("memory", True, "Measure peak memory (one subprocess per image model).")


def profile(model: str) -> dict[str, Any]:
  """The complexity of an image or video config at --height x --width."""
  if model in video_config_names():
    return complexity.profile_video_codec(model, FLAGS.height, FLAGS.width)
  return complexity.profile_codec(model, FLAGS.height, FLAGS.width, memory=FLAGS.memory)


def summary(result: dict[str, Any]) -> str:
  """One line of a result: parameters and encode / decode GMACs (+attn)."""
  if result.get("kind") == "video":
    stages = [(stage.replace("_", " "), result["coding_macs"][stage])
              for stage in complexity.VIDEO_STAGES]
    params = result["parameters"]["total"]
  else:
    stages = [("encode", result["encode_macs"]), ("decode", result["decode_macs"])]
    params = result["total_parameters"]
  return f"{result['model']}: {params / 1e6:.2f}M params, " + ", ".join(
      f"{name} {m['paper'] / 1e9:.2f} GMACs (+attn {m['total'] / 1e9:.2f})" for name, m in stages)


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  unknown = [m for m in FLAGS.models if m not in config_names() + video_config_names()]
  if unknown:
    raise app.UsageError(f"unknown models {unknown}; image configs: {', '.join(config_names())}"
                         f"; video configs: {', '.join(video_config_names())}")
  output = Path(FLAGS.output)
  json_path = Path(FLAGS.json) if FLAGS.json else output.with_suffix(".json")
  results = []
  for model in FLAGS.models:
    results.append(profile(model))
    print(summary(results[-1]), flush=True)
    fileio.write_text(output, complexity.markdown_report(results))
    fileio.write_text(json_path, complexity.as_json(results))
  print(f"wrote {output} and {json_path}")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
