"""Where a step's time goes: self time per TF op type from a profiler trace (issue 16).

:func:`trace_call` runs a function under ``tf.profiler.experimental`` and returns the XSpace
file it wrote; :func:`op_self_times` reads the host CPU threads' op events (named
``"scope/name:OpType"``) and charges each event its duration minus that of the events nested
in it, so a function call (``PartitionedCall``, e.g. an XLA-fused LayerNorm) counts only the time
not spent in the ops nested in it.
"""
from __future__ import annotations

import collections
import glob
import os
from typing import Any, Callable

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from tfc_swin.eval.tables import markdown_table


def trace_call(fn: Callable[[], Any], logdir: str) -> str:
  """Runs ``fn()`` once under the TF profiler; the path of the XSpace (``.xplane.pb``) file."""
  before = set(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
  tf.profiler.experimental.start(logdir)
  try:
    fn()
  finally:
    tf.profiler.experimental.stop()
  written = set(glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb")))
  (path,) = written - before
  return path


def event_self_times(events: list[tuple[int, int, str]]) -> collections.Counter:
  """Self time per op type of one thread's ``(start, end, "name:OpType")`` events, sorted by
  start (longer first on ties), in their time unit."""
  out: collections.Counter = collections.Counter()
  stack: list[list[Any]] = []  # [start, end, name, time of nested events]

  def close() -> None:
    start, end, name, nested = stack.pop()
    out[name.rsplit(":", 1)[-1]] += (end - start) - nested
    if stack:
      stack[-1][3] += end - start

  for start, end, name in events:
    while stack and stack[-1][1] <= start:
      close()
    stack.append([start, end, name, 0])
  while stack:
    close()
  return out


def op_self_times(xspace_path: str) -> dict[str, float]:
  """Seconds of self time per op type over the host CPU's TF op events, largest first."""
  space = xplane_pb2.XSpace()
  with open(xspace_path, "rb") as f:
    space.ParseFromString(f.read())
  totals: collections.Counter = collections.Counter()
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      if not line.name.startswith("tf_"):  # TF's compute threads, not Python or tf.data
        continue
      events = sorted(((e.offset_ps, e.offset_ps + e.duration_ps,
                        plane.event_metadata[e.metadata_id].name) for e in line.events),
                      key=lambda e: (e[0], -e[1]))
      totals += event_self_times(events)
  return {name: ps / 1e12 for name, ps in totals.most_common()}


def markdown_breakdown(seconds: dict[str, float], top: int = 15) -> str:
  """The ``top`` op types by self time, with their share of the total; the rest summed."""
  total = sum(seconds.values())
  ranked = list(seconds.items())
  rows = [[name, f"{s * 1e3:.1f}", f"{s / total:.1%}"] for name, s in ranked[:top]]
  rest = sum(s for _, s in ranked[top:])
  if rest:
    rows.append([f"({len(ranked) - top} other op types)", f"{rest * 1e3:.1f}",
                 f"{rest / total:.1%}"])
  return markdown_table(["op type", "self ms", "share"], rows)
