"""Latency of one-image ``tfc-swin compress`` / ``decompress`` in fresh processes (issue #16).

    nice .venv/bin/python experiments/cli_latency.py --runs 6 \
        --output results/benchmark/cli_latency.md
    # Before / after: another source tree (tfc_swin/ and zoo/, e.g. the last commit's:
    #   git archive HEAD tfc_swin zoo | tar -x -C /tmp/head), run interleaved with this one.
    nice .venv/bin/python experiments/cli_latency.py --runs 6 --baseline /tmp/head \
        --baseline_label "before" --label "after" --output results/benchmark/cli_latency.md
    # Whether tfc_swin.fastload.CPU_NOOP_REWRITES leave each zoo model's optimized graphs (and
    # outputs) unchanged:
    nice .venv/bin/python experiments/cli_latency.py --check_graphs \
        --output results/benchmark/cli_latency_graphs.md

Each run starts ``tfc-swin compress IMAGE OUT -v`` and ``tfc-swin decompress OUT OUT.png -v``
as fresh processes (the console script of this venv; a tree is chosen with PYTHONPATH, which the
decompress worker inherits) and measures here the wall time from start to exit and the CPU time
(user + sys, the decompress worker included); the stages come from ``-v``. ``other`` is the
wall time outside the printed stages: Python start-up, the CLI's imports (before
tfc_swin.fastload also ``import tensorflow``, which now is the ``import TF`` stage), argument
parsing, exit; for decompress ``load model`` holds the worker's start-up. ``first call`` is the
model's first ``compress`` / ``decompress`` call (graph optimization or reading it from the graph
cache, oneDNN rewrite, kernel creation, and the coding), ``steady call`` the median of later
calls in one process (a separate probe process per run). Start-up pieces are fresh ``python -c``
processes. The float32 2048x2048 matmul GFLOP/s (``tfc_swin.profiling.timing.matmul_gflops``)
is measured before and after the runs: the machine's load changes the absolute times.

Numbers are medians over runs 2..N, the trees alternating within each run (the same machine
conditions for both). Run 1 warms the operating system's file cache for both trees and, for
this tree, writes the graph cache (tfc_swin.fastload; a fresh folder per invocation of this
script): its times (cold graph cache) are reported apart. The outputs of all runs are compared
byte for byte.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parent.parent
FLAGS = flags.FLAGS
flags.DEFINE_string("image", "../shared/data/kodak/kodim01.png", "The image to compress.")
flags.DEFINE_integer("runs", 5, "Fresh processes per command and tree (medians are reported).")
flags.DEFINE_integer("probe_calls", 3, "Calls per probe process (the first is not counted).")
flags.DEFINE_string("baseline", None, "Another source tree (with tfc_swin/ and zoo/) to time, "
                    "interleaved with this one, e.g. the last commit's.")
flags.DEFINE_string("label", "this tree", "Row label of this tree.")
flags.DEFINE_string("baseline_label", "baseline", "Row label of --baseline.")
flags.DEFINE_string("output", None, "Markdown report path (also printed); JSON beside it.")
flags.DEFINE_bool("startup", True, "Also time the start-up pieces (python, imports).")
flags.DEFINE_bool("check_graphs", False, "Instead of timing: compare the optimized graphs of "
                  "every zoo image model's coding functions with and without "
                  "tfc_swin.fastload.CPU_NOOP_REWRITES.")

_STAGE = re.compile(r"^  (\S.*?)\s+(-?[0-9.]+) ms$")
_CLI = str(Path(sys.executable).with_name("tfc-swin"))
_PROBE = """
import argparse, json, sys, time
import tfc_swin
assert tfc_swin.__file__.startswith(sys.argv[3]), (tfc_swin.__file__, sys.argv[3])
from tfc_swin import cli, image_io
rgb, mode, alpha = image_io.read_image(sys.argv[1])
coder = cli._coder(argparse.Namespace(model=None, quality=None, version="latest"))[0]
times = {"compress": [], "decompress": []}
for _ in range(int(sys.argv[2])):
  t = time.perf_counter(); data = coder.compress_array(rgb, mode, alpha)
  times["compress"].append(time.perf_counter() - t)
for _ in range(int(sys.argv[2])):
  t = time.perf_counter(); coder.decompress_array(data)
  times["decompress"].append(time.perf_counter() - t)
print(json.dumps(times))
"""
_STARTUP = {  # piece -> python -c code
    "python": "pass",
    "import tfc_swin.cli": "import tfc_swin.cli",
    "import tensorflow": "import tensorflow",
    "+ tensorflow_compression": "import tensorflow, tensorflow_compression",
    "fastload.import_runtime()": "from tfc_swin import fastload; fastload.import_runtime(); "
                                 "fastload.load_tfc_ops()",
}
_GFLOPS = ("import json; from tfc_swin.profiling import timing; "
           "print(json.dumps(timing.matmul_gflops(2048, repeats=5)['gflops']))")


_GRAPH_CACHE: dict[str, str] = {}  # TFC_SWIN_GRAPH_CACHE of this run (empty at its start)


def _env(tree: str | None) -> dict[str, str]:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **_GRAPH_CACHE)
  env.pop("PYTHONPATH", None)
  if tree:
    env["PYTHONPATH"] = tree
    env["TFC_SWIN_ZOO"] = os.path.join(tree, "zoo")
  return env


def _run(args: list[str], tree: str | None) -> tuple[float, float, str]:
  """(wall seconds, CPU seconds of the process and its waited-for children, stdout). Runs in
  the temporary folder: in the checkout, ``python -c`` (probe, decompress worker) would import
  the checkout's tfc_swin whatever PYTHONPATH says."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.perf_counter()
  proc = subprocess.run(args, env=_env(tree), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True, check=False, cwd=tempfile.gettempdir())
  wall = time.perf_counter() - start
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  if proc.returncode:
    raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  return wall, cpu, proc.stdout


def _stages(stdout: str) -> dict[str, float]:
  return {m.group(1): float(m.group(2)) / 1e3 for m in map(_STAGE.match, stdout.splitlines())
          if m}


def _command(kind: str, tree: str | None, image: str, work: str) -> dict[str, object]:
  tfsw, png = os.path.join(work, "out.tfsw"), os.path.join(work, "out.png")
  args = ([_CLI, "compress", image, tfsw] if kind == "compress"
          else [_CLI, "decompress", tfsw, png]) + ["-v", "--force"]
  wall, cpu, stdout = _run(args, tree)
  with open(tfsw if kind == "compress" else png, "rb") as f:
    output = f.read()
  return {"wall": wall, "cpu": cpu, "stages": _stages(stdout), "output": output}


def _median(values: list[float]) -> float:
  return statistics.median(values) if values else float("nan")


def _row(label: str, kind: str, records: list[dict], steady: list[float]) -> list[str]:
  stages = [r["stages"] for r in records]
  first = "encode_model" if kind == "compress" else "decode_model"
  io_keys = ("read image", "write file", "pack", "read file", "write image")

  def col(fn) -> str:
    return f"{_median([fn(s) for s in stages]):.2f}"

  other = _median([r["wall"] - sum(r["stages"].values()) for r in records])
  return [label, kind, f"**{_median([r['wall'] for r in records]):.2f}**",
          f"{_median([r['cpu'] for r in records]):.2f}",
          col(lambda s: s.get("import TF", 0.0)), col(lambda s: s.get("load model", 0.0)),
          col(lambda s: s.get(first, 0.0) + s.get("unpack", 0.0)), f"{_median(steady):.2f}",
          col(lambda s: sum(s.get(k, 0.0) for k in io_keys)), f"{other:.2f}"]


def _gflops() -> float:
  _, _, stdout = _run([sys.executable, "-c", _GFLOPS], None)
  return float(stdout.strip().splitlines()[-1])


def _loadavg() -> str:
  return " ".join(f"{x:.1f}" for x in os.getloadavg())


def time_cli() -> str:
  from tfc_swin.eval.tables import markdown_table  # pylint: disable=import-outside-toplevel
  from tfc_swin.profiling import timing  # pylint: disable=import-outside-toplevel
  image = os.path.abspath(FLAGS.image)
  trees = ([(FLAGS.baseline_label, os.path.abspath(FLAGS.baseline))] if FLAGS.baseline
           else []) + [(FLAGS.label, None)]
  load_start, gflops_start = _loadavg(), _gflops()
  started = datetime.datetime.now().isoformat(timespec="minutes")
  records = {(label, kind): [] for label, _ in trees for kind in ("compress", "decompress")}
  steady = {(label, kind): [] for label, _ in trees for kind in ("compress", "decompress")}
  startup = {(label, piece): [] for label, _ in trees for piece in _STARTUP}
  outputs: dict[str, set] = {"compress": set(), "decompress": set()}
  with tempfile.TemporaryDirectory() as work:
    # The graph cache starts empty: the first run of this tree writes it (cold), later runs read.
    _GRAPH_CACHE["TFC_SWIN_GRAPH_CACHE"] = os.path.join(work, "graphs")
    for run in range(FLAGS.runs):
      for label, tree in (trees if run % 2 == 0 else trees[::-1]):
        for kind in ("compress", "decompress"):
          record = _command(kind, tree, image, work)
          outputs[kind].add(record.pop("output"))
          records[(label, kind)].append(record)
        _, _, stdout = _run([sys.executable, "-c", _PROBE, image, str(FLAGS.probe_calls),
                             tree or str(REPO)], tree)
        for kind, times in json.loads(stdout.strip().splitlines()[-1]).items():
          steady[(label, kind)] += times[1:]
        if FLAGS.startup:
          for piece, code in _STARTUP.items():
            if tree and piece.startswith("fastload"):
              continue  # Not in a tree from before tfc_swin.fastload.
            startup[(label, piece)].append(_run([sys.executable, "-c", code], tree)[0])
        print(f"run {run + 1}/{FLAGS.runs} {label}: " + ", ".join(
            f"{k} {records[(label, k)][-1]['wall']:.2f} s" for k in ("compress", "decompress")),
              file=sys.stderr, flush=True)
  gflops_end, load_end = _gflops(), _loadavg()
  # Run 1 is a warm-up of the operating system's file cache for both trees, and the cold run
  # of this tree's graph cache: reported apart, not in the medians.
  counted = {k: v[1:] if len(v) > 1 else v for k, v in records.items()}
  rows = [_row(label, kind, counted[(label, kind)], steady[(label, kind)])
          for label, _ in trees for kind in ("compress", "decompress")]
  same = all(len(v) == 1 for v in outputs.values())
  lines = [
      "# One-image command-line latency (`tfc-swin compress` / `decompress`)", "",
      f"`experiments/cli_latency.py --runs {FLAGS.runs}"
      + (f" --baseline {FLAGS.baseline}" if FLAGS.baseline else "") + "`, started "
      f"{started}: {FLAGS.image} with the zoo default model, {os.cpu_count()} cores "
      f"({timing.cpu_name()}), load average {load_start} at the start and {load_end} at the end, "
      f"float32 matmul {gflops_start:.0f} / {gflops_end:.0f} GFLOP/s (start / end). Medians "
      f"of runs 2-{FLAGS.runs} (fresh processes; run 1 warms the file cache) per row, the trees "
      "alternating within each run (same machine conditions); seconds. Outputs of all runs "
      "and trees "
      + ("byte-identical (.tfsw and .png)." if same else "**differ**.") + " The graph cache "
      "(tfc_swin.fastload) starts empty: run 1 of this tree writes it; its total wall there "
      "(cold graph cache): " + ", ".join(
          f"{kind} {records[(FLAGS.label, kind)][0]['wall']:.2f} s"
          for kind in ("compress", "decompress")) + ".", "",
      markdown_table(["tree", "command", "total wall", "CPU (user+sys)", "import TF",
                      "load model", "first call", "steady call", "file I/O", "other"], rows,
                     [False, False] + [True] * 8),
      "", "Columns: see the docstring of experiments/cli_latency.py (`other`: Python start-up, "
      "the CLI's imports, exit; for the baseline it holds `import tensorflow`, and for "
      "decompress `load model` holds the worker's start-up).", ""]
  if FLAGS.startup:
    pieces = [p for p in _STARTUP if any(startup[(label, p)] for label, _ in trees)]
    lines += ["Start-up pieces (wall seconds of a fresh `python -c`, medians):", "",
              markdown_table(["tree"] + [f"`{p}`" for p in pieces],
                             [[label] + [f"{_median(startup[(label, p)]):.2f}"
                                         if startup[(label, p)] else "-" for p in pieces]
                              for label, _ in trees], [False] + [True] * len(pieces)), ""]
  report = "\n".join(lines)
  if FLAGS.output:
    Path(FLAGS.output).parent.mkdir(parents=True, exist_ok=True)
    Path(FLAGS.output).write_text(report)
    Path(FLAGS.output).with_suffix(".json").write_text(json.dumps({
        "started": started, "image": FLAGS.image, "runs": FLAGS.runs,
        "gflops": [gflops_start, gflops_end], "loadavg": [load_start, load_end],
        "identical_outputs": same,
        "records": {f"{label}|{kind}": v for (label, kind), v in records.items()},
        "steady": {f"{label}|{kind}": v for (label, kind), v in steady.items()},
        "startup": {f"{label}|{piece}": v for (label, piece), v in startup.items()}},
        indent=1))
  return report


# -- --check_graphs -------------------------------------------------------------------------------
_DUMP = """
import glob, hashlib, json, os, sys
import numpy as np
from tfc_swin import fastload
fastload.import_runtime(); fastload.load_tfc_ops()
if sys.argv[2] == "0":
  fastload.CPU_NOOP_REWRITES = {}
model = fastload.SavedModelFunctions(sys.argv[1])
from tensorflow.python.framework import constant_op
y, x = np.mgrid[0:136, 0:200]
image = np.stack([128 + 90 * np.sin(x / 13 + c) * np.cos(y / 9 - c) for c in range(3)], -1)
image = constant_op.constant(image.astype(np.uint8))
dumps, result = {}, {}
def new_dump(seen):
  files = set(glob.glob(os.path.join(os.environ["TF_DUMP_GRAPH_PREFIX"], "after_MetaOptimizer*")))
  return max(files - seen, key=os.path.getsize) if files - seen else None, files
seen = set()
out = model.compress(image)
dumps["compress"], seen = new_dump(seen)
result["compress"] = hashlib.sha256(b"".join(bytes(s) for s in out["strings"].numpy())).hexdigest()
dec = model.decompress(out["strings"], out["shape"])
dumps["decompress"], seen = new_dump(seen)
result["decompress"] = hashlib.sha256(dec["image"].numpy().tobytes()).hexdigest()
print(json.dumps({"dumps": dumps, "outputs": result}))
"""


def _graph(path: str) -> dict[str, tuple]:
  """Nodes of a dumped GraphDef, name -> (op, inputs, device, attrs with tensors by value)."""
  from google.protobuf import text_format  # pylint: disable=import-outside-toplevel
  from tensorflow.core.framework import graph_pb2  # pylint: disable=import-outside-toplevel
  from tensorflow.python.framework import tensor_util  # pylint: disable=import-outside-toplevel
  graph = text_format.Parse(Path(path).read_text(), graph_pb2.GraphDef())
  nodes = {}
  for node in graph.node:
    attrs = {}
    for key, value in node.attr.items():
      if value.WhichOneof("value") == "tensor":
        array = tensor_util.MakeNdarray(value.tensor)
        attrs[key] = (str(array.dtype), array.shape, repr(array.tolist()))
      else:
        attrs[key] = value.SerializeToString(deterministic=True)
    nodes[node.name] = (node.op, tuple(node.input), node.device, attrs)
  return nodes


def check_graphs() -> str:
  from tfc_swin import fastload, zoo  # pylint: disable=import-outside-toplevel
  from tfc_swin.eval.tables import markdown_table  # pylint: disable=import-outside-toplevel
  rows = []
  for name in zoo.available_models(zoo.IMAGE_MODEL_KIND):
    for quality in zoo.qualities(name):
      folder = zoo.model_folder(name, quality)
      runs = {}
      with tempfile.TemporaryDirectory() as d0, tempfile.TemporaryDirectory() as d1:
        for flag, dump in (("0", d0), ("1", d1)):
          env = dict(_env(None), TF_DUMP_GRAPH_PREFIX=dump, TF_CPP_VMODULE="meta_optimizer=1")
          proc = subprocess.run([sys.executable, "-c", _DUMP, folder, flag], env=env,
                                stdout=subprocess.PIPE, text=True, check=True, cwd=d0)
          result = json.loads(proc.stdout.strip().splitlines()[-1])
          result["graphs"] = {k: _graph(v) for k, v in result["dumps"].items()}
          runs[flag] = result
        for function in ("compress", "decompress"):
          a, b = runs["0"]["graphs"][function], runs["1"]["graphs"][function]
          differ = sum(1 for k in set(a) | set(b) if a.get(k) != b.get(k))
          rows.append([f"{name} q{quality}", function, len(a), len(b),
                       "yes" if differ == 0 else f"**no** ({differ} nodes differ)",
                       "yes" if runs["0"]["outputs"][function] == runs["1"]["outputs"][function]
                       else "**no**"])
  return "\n".join([
      "# Grappler passes switched off by tfc_swin.fastload (CPU_NOOP_REWRITES)", "",
      "`experiments/cli_latency.py --check_graphs`, "
      f"{datetime.datetime.now().isoformat(timespec='minutes')}: each zoo image model's coding "
      "functions optimized by TensorFlow with all grappler passes and with "
      f"{', '.join(f'{k}={v}' for k, v in fastload.CPU_NOOP_REWRITES.items())}; the optimized "
      "graphs (TF_DUMP_GRAPH_PREFIX, after_MetaOptimizer) compared node by node (op, inputs, "
      "device, attributes, constants by value), and the outputs of a 200x136 image.", "",
      markdown_table(["model", "function", "nodes (all passes)", "nodes (CPU_NOOP_REWRITES)",
                      "graph identical", "output identical"], rows,
                     [False, False, True, True, False, False]), ""])


def main(argv: list[str]) -> None:
  del argv
  if FLAGS.check_graphs:
    report = check_graphs()
    if FLAGS.output:
      Path(FLAGS.output).write_text(report)
  else:
    report = time_cli()
  print(report)


if __name__ == "__main__":
  app.run(main)
