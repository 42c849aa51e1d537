"""RD plots, rate-saving plots and a markdown BD-rate table from results files.

  python experiments/plot_rd.py --results a.json,b.json --anchor a.json --output_dir DIR

Per dataset (the ``dataset`` field, default the parent folder name) it writes
``{dataset}_rd_psnr.png``, ``{dataset}_rd_ms_ssim_db.png`` and
``{dataset}_rate_savings.png``; the table goes to ``bdrate_table.md``.
"""
from __future__ import annotations

from pathlib import Path

from absl import app, flags

from tfc_swin.eval import bdrate, plots, results

FLAGS = flags.FLAGS
flags.DEFINE_list("results", None, "Results files (JSON or CSV, external:PATH accepted).")
flags.DEFINE_string("anchor", None, "Anchor: a results file (added if not in --results) or "
                    "the name of one of the results.")
flags.DEFINE_string("output_dir", None, "Folder for the PNGs and bdrate_table.md.")
flags.DEFINE_enum("metric", "psnr", list(bdrate.METRICS), "Quality metric of the BD-rate table.")
flags.DEFINE_bool("skip_nonoverlapping", False, "Skip (and count) non-overlapping images in "
                  "the BD-rate table instead of failing.")
flags.mark_flags_as_required(["results", "anchor", "output_dir"])


def run(argv: list[str]) -> None:
  """Entry point for absl.app."""
  del argv
  loaded = {str(Path(s.removeprefix(results.EXTERNAL_PREFIX)).resolve()): results.load_results(s)
            for s in FLAGS.results}
  anchor_path = Path(FLAGS.anchor.removeprefix(results.EXTERNAL_PREFIX))
  if anchor_path.is_file():
    key = str(anchor_path.resolve())
    loaded.setdefault(key, results.load_results(FLAGS.anchor))
    anchor_name = loaded[key]["name"]
  else:
    anchor_name = FLAGS.anchor
  all_results = list(loaded.values())
  output_dir = Path(FLAGS.output_dir)
  for dataset in sorted({r["dataset"] for r in all_results}):
    group = [r for r in all_results if r["dataset"] == dataset]
    written = [plots.plot_rd(group, output_dir / f"{dataset}_rd_psnr.png", "psnr", dataset)]
    written.append(plots.plot_rd(group, output_dir / f"{dataset}_rd_ms_ssim_db.png",
                                 "ms_ssim_db", dataset))
    anchors = [r for r in group if r["name"] == anchor_name]
    if anchors:
      written.append(plots.plot_rate_savings(anchors[0], group,
                                             output_dir / f"{dataset}_rate_savings.png", dataset))
    for path in written:
      print(f"wrote {path}")
  table = plots.bd_rate_table(all_results, anchor_name, FLAGS.metric, FLAGS.skip_nonoverlapping)
  table_path = output_dir / "bdrate_table.md"
  table_path.write_text(table, encoding="utf-8")
  print(table)
  print(f"wrote {table_path}")


def main() -> None:
  """Runs the binary."""
  app.run(run)


if __name__ == "__main__":
  main()
