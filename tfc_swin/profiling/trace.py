"""Where a step's time and memory go, from a profiler trace (issue 16).

:func:`trace_call` runs a function under ``tf.profiler.experimental`` and returns the XSpace
file it wrote; :func:`op_self_times` reads the host CPU threads' op events (named
``"scope/name:OpType"``) and charges each event its duration minus that of the events nested
in it, so a function call (``PartitionedCall``, e.g. an XLA-fused LayerNorm) counts only the time
not spent in the ops nested in it.

:func:`live_at_peak` reads the allocator's events of the same trace (recorded only by TF's BFC
allocator: on CPU, with ``TF_CPU_ALLOCATOR_USE_BFC=true`` set before TensorFlow starts) and
lists the tensors alive when the most bytes were in use, by the op that allocated them.
"""
from __future__ import annotations

import collections
import glob
import os
import re
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


def _top_table(values: dict[str, float], top: int, headers: list[str], digits: int,
               others: str) -> str:
  """The first ``top`` of ``values`` (ranked) with their share of the total; the rest summed."""
  total = sum(values.values())
  ranked = list(values.items())
  rows = [[name, f"{v:.{digits}f}", f"{v / total:.1%}"] for name, v in ranked[:top]]
  rest = sum(v for _, v in ranked[top:])
  if rest:
    rows.append([f"({len(ranked) - top} other {others})", f"{rest:.{digits}f}",
                 f"{rest / total:.1%}"])
  return markdown_table(headers, rows)


def markdown_breakdown(seconds: dict[str, float], top: int = 15) -> str:
  """The ``top`` op types by self time, with their share of the total; the rest summed."""
  return _top_table({k: v * 1e3 for k, v in seconds.items()}, top,
                    ["op type", "self ms", "share"], 1, "op types")


def _stat_values(plane: Any, event: Any) -> dict[str, Any]:
  names = {k: v.name for k, v in plane.stat_metadata.items()}
  values = {}
  for stat in event.stats:
    kind = stat.WhichOneof("value")
    value = getattr(stat, kind)
    values[names[stat.metadata_id]] = names.get(value) if kind == "ref_value" else value
  return values


def memory_events(xspace_path: str) -> list[tuple[int, int, int, str]]:
  """The allocator's events of a trace, in time order: ``(time ps, address, bytes, op)``,
  bytes negative for a deallocation. ``op`` is the allocating op's name, or, where TF records
  none (outputs of functions and XLA kernels), ``"in <name:Type>"`` of the innermost op then
  running on that thread."""
  space = xplane_pb2.XSpace()
  with open(xspace_path, "rb") as f:
    space.ParseFromString(f.read())
  out = []
  for plane in space.planes:
    if plane.name != "/host:CPU":
      continue
    for line in plane.lines:
      running = []  # (start, end, name) of the thread's op events, by start
      for e in line.events:
        name = plane.event_metadata[e.metadata_id].name
        start = line.timestamp_ns * 1000 + e.offset_ps
        if name not in ("MemoryAllocation", "MemoryDeallocation"):
          running.append((start, start + e.duration_ps, name))
          continue
        stats = _stat_values(plane, e)
        size = int(stats["allocation_bytes"])
        op = str(stats.get("tf_op", "(null)"))
        if name == "MemoryAllocation" and op == "(null)":
          inside = [r for r in running if r[0] <= start <= r[1] and ":" in r[2]]
          op = f"in <{max(inside)[2]}>" if inside else "(unknown)"
        out.append((start, int(stats["addr"]), size if name == "MemoryAllocation" else -size,
                    op))
  return sorted(out, key=lambda e: (e[0], e[2] > 0))


def live_at_peak(events: list[tuple[int, int, int, str]]) -> tuple[int, dict[str, int]]:
  """Bytes in use at the peak of :func:`memory_events` and, for the tensors then alive, bytes
  per allocating op, grouped over Swin stages and blocks (``stage*/block*``), largest first."""
  live: dict[int, tuple[int, str]] = {}
  in_use, peak, at_peak = 0, 0, {}
  for _, address, size, op in events:
    if size > 0:
      live[address] = (size, op)
      in_use += size
    elif address in live:
      in_use -= live.pop(address)[0]
    if in_use > peak:
      peak, at_peak = in_use, dict(live)
  groups: collections.Counter = collections.Counter()
  for size, op in at_peak.values():
    groups[re.sub(r"(stage|block)\d+", r"\1*", op)] += size
  return peak, dict(groups.most_common())


def markdown_live_memory(groups: dict[str, int], top: int = 15) -> str:
  """The ``top`` groups of :func:`live_at_peak` in MiB with their share; the rest summed."""
  return _top_table({k: v / 2**20 for k, v in groups.items()}, top,
                    ["allocated by", "MiB live at the peak", "share"], 0, "ops")
