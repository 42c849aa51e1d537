"""Complexity profile (parameters, GMACs, peak memory) of codecs, like Zhu et al. Tables 3-4.

  python experiments/profile.py --models swint-hyperprior,conv-hyperprior \
      --height 512 --width 768 --output results/complexity/paper.md

Writes a markdown report and a JSON file (``--json``, default: the output with .json).
See docs/complexity.md for the MAC counting convention and what the memory column measures.
"""
from __future__ import annotations

from pathlib import Path

from absl import app, flags

from tfc_swin import fileio
from tfc_swin.configs import config_names
from tfc_swin.profiling import complexity

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["conv-hyperprior", "conv-charm", "swint-hyperprior", "swint-charm"],
                  "Config names to profile.")
flags.DEFINE_integer("height", 512, "Image height (padded to a multiple of 64 by the codec).")
flags.DEFINE_integer("width", 768, "Image width (padded to a multiple of 64 by the codec).")
flags.DEFINE_string("output", "results/complexity/paper.md", "Markdown report path.")
flags.DEFINE_string("json", None, "JSON results path (default: --output with .json).")
flags.DEFINE_bool("memory", True, "Measure peak memory (one subprocess per model).")


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  unknown = [m for m in FLAGS.models if m not in config_names()]
  if unknown:
    raise app.UsageError(f"unknown models {unknown}; known: {', '.join(config_names())}")
  output = Path(FLAGS.output)
  json_path = Path(FLAGS.json) if FLAGS.json else output.with_suffix(".json")
  results = []
  for model in FLAGS.models:
    result = complexity.profile_codec(model, FLAGS.height, FLAGS.width, memory=FLAGS.memory)
    results.append(result)
    enc, dec = result["encode_macs"], result["decode_macs"]
    print(f"{model}: {result['total_parameters'] / 1e6:.2f}M params, encode "
          f"{enc['paper'] / 1e9:.2f} GMACs (+attn {enc['total'] / 1e9:.2f}), decode "
          f"{dec['paper'] / 1e9:.2f} GMACs (+attn {dec['total'] / 1e9:.2f})", flush=True)
    fileio.write_text(output, complexity.markdown_report(results))
    fileio.write_text(json_path, complexity.as_json(results))
  print(f"wrote {output} and {json_path}")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
