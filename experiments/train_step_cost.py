"""Time and peak memory of one training step, next to this machine's compute floor (issue 16).

  python experiments/train_step_cost.py --model swint-charm --batch_size 8 --patch_size 256 \
      --threads 2 --steps 3 --recompute=false --output results/benchmark/train_step.json

Random weights and random crops (timing only), the trainer's own step
(:class:`tfc_swin.training.trainer.Trainer`: forward, loss, gradients, clipping, Adam). The
floor is 3x the forward MACs (forward, plus two matmuls per matmul in the backward pass) at
the float32 matmul GFLOP/s measured in the same run. Peak memory is the process's peak RSS
(VmHWM) over tracing and all steps. Each run appends one record to ``--output``.
``--profile_top N`` also traces one more step and records the self time of its N costliest op
types (``PartitionedCall``: the XLA-fused ops of ``--xla_elementwise`` and their gradients).
``--memory_top N`` records, from such a traced step, the bytes of live tensors at the step's
peak and the N ops that allocated most of them (tfc_swin.profiling.trace.live_at_peak); it
runs the process with TF's BFC allocator on the CPU (``TF_CPU_ALLOCATOR_USE_BFC=true``, which
it sets by starting itself again), so its step times and peak RSS are that allocator's.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

import tensorflow as tf
from absl import app, flags

from tfc_swin import fileio
from tfc_swin.configs import get_config
from tfc_swin.codecs import build_codec
from tfc_swin.profiling.complexity import (decoder_modules, encoder_modules, module_macs,
                                           peak_rss_bytes)
from tfc_swin.profiling.timing import compute_floor, matmul_gflops
from tfc_swin.profiling.trace import (live_at_peak, markdown_breakdown, markdown_live_memory,
                                      memory_events, op_self_times, trace_call)
from tfc_swin.training.config import TrainConfig
from tfc_swin.training.trainer import Trainer, setup_devices

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "swint-charm", "Image config name.")
flags.DEFINE_integer("batch_size", 8, "Global batch size.")
flags.DEFINE_integer("patch_size", 256, "Crop size.")
flags.DEFINE_integer("steps", 3, "Timed steps after the first (tracing) step; the median is "
                     "reported.")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0: all cores).")
flags.DEFINE_boolean("recompute", False, "Recompute Swin block activations (TrainConfig).")
flags.DEFINE_boolean("xla_elementwise", False, "XLA-fused LayerNorm / GELU (TrainConfig).")
flags.DEFINE_boolean("recompute_gelu", False, "Recompute the Swin MLPs' GELU (TrainConfig).")
flags.DEFINE_boolean("bfloat16_matmuls", False, "bfloat16 matmuls in Swin Linear maps "
                     "(TrainConfig).")
flags.DEFINE_string("output", "", "JSON list to append the record to (empty: print only).")
flags.DEFINE_integer("profile_top", 0, "After the timed steps, trace one more step with the TF "
                     "profiler and record (and print) the self time of its N costliest op types "
                     "(tfc_swin.profiling.trace); 0 = off.")
flags.DEFINE_integer("memory_top", 0, "Trace one more step (as --profile_top) and record the "
                     "bytes of live tensors at its peak and the N ops that allocated most of "
                     "them; runs with TF's BFC CPU allocator. 0 = off.")
_BFC = "TF_CPU_ALLOCATOR_USE_BFC"


def forward_macs(model: str, patch: int, batch: int) -> int:
  """Effective MACs of one training forward pass (g_a, h_a, h_s, prior, g_s) of a batch."""
  macs = module_macs(build_codec(model), patch, patch)
  names = set(encoder_modules(macs)) | set(decoder_modules(macs))
  return batch * sum(macs[n].effective for n in names)


def measure(model: str, patch: int, batch: int, steps: int, recompute: bool,
            xla_elementwise: bool = False, bfloat16_matmuls: bool = False,
            profile_top: int = 0, memory_top: int = 0, recompute_gelu: bool = False) -> dict:
  """One record: seconds per step (median), peak RSS, floor ratio; with ``profile_top``, the
  self seconds of the costliest op types of one more (traced) step; with ``memory_top``, its
  live tensors at the peak by allocating op."""
  gflops = matmul_gflops()["gflops"]
  data = tf.data.Dataset.from_tensors(
      tf.random.stateless_uniform([patch, patch, 3], (1, 2), 0, 255)).repeat().batch(
          batch, drop_remainder=True)  # Static batch size, as the trainer's pipeline.
  with tempfile.TemporaryDirectory() as run:
    config = TrainConfig(model=model, lmbda=0.01, data="", run_dir=run, patch_size=patch,
                         batch_size=batch, recompute=recompute, recompute_gelu=recompute_gelu,
                         xla_elementwise=xla_elementwise, bfloat16_matmuls=bfloat16_matmuls)
    trainer = Trainer(config, dataset=data)
    step = trainer._train_step_fn()  # pylint: disable=protected-access
    iterator = iter(trainer.strategy.experimental_distribute_dataset(data))
    start = time.perf_counter()
    float(step(iterator)[0]["loss"])
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
      start = time.perf_counter()
      float(step(iterator)[0]["loss"])
      times.append(time.perf_counter() - start)
    peak = peak_rss_bytes()  # Before the profiler and the MAC count below.
    ops, extra = {}, {}
    if profile_top or memory_top:
      traced = trace_call(lambda: float(step(iterator)[0]["loss"]), os.path.join(run, "trace"))
    if profile_top:
      ops = op_self_times(traced)
      print(markdown_breakdown(ops, profile_top))
    if memory_top:
      live_peak, groups = live_at_peak(memory_events(traced))
      print(markdown_live_memory(groups, memory_top))
      extra = {"allocator": "bfc", "live_peak_gb": round(live_peak / 2**30, 3),
               "live_at_peak_mib": {k: round(v / 2**20, 1)
                                    for k, v in list(groups.items())[:memory_top]}}
  seconds = statistics.median(times)
  floor = compute_floor(3 * forward_macs(model, patch, batch), gflops)
  return {"model": model, "batch_size": batch, "patch_size": patch, "recompute": recompute,
          "recompute_gelu": recompute_gelu,
          "xla_elementwise": xla_elementwise, "bfloat16_matmuls": bfloat16_matmuls,
          "threads": FLAGS.threads, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
          "first_step_s": round(first, 2), "step_s": round(seconds, 3),
          "steps_per_s": round(1 / seconds, 3), "floor_s": round(floor, 3),
          "floor_ratio": round(seconds / floor, 2), "gflops": round(gflops, 1),
          "peak_rss_gb": round(peak / 2**30, 2),
          **({"op_self_s": {k: round(v, 3) for k, v in list(ops.items())[:profile_top]},
              "op_self_total_s": round(sum(ops.values()), 3)} if ops else {}), **extra}


def main(argv: list[str]) -> None:
  del argv
  if FLAGS.memory_top and os.environ.get(_BFC) != "true":  # Read once, when TF starts.
    os.execve(sys.executable, [sys.executable] + sys.argv, {**os.environ, _BFC: "true"})
  get_config(FLAGS.model)  # Clear error for an unknown name before any work.
  setup_devices(threads=FLAGS.threads)
  record = measure(FLAGS.model, FLAGS.patch_size, FLAGS.batch_size, FLAGS.steps,
                   FLAGS.recompute, FLAGS.xla_elementwise, FLAGS.bfloat16_matmuls,
                   FLAGS.profile_top, FLAGS.memory_top, FLAGS.recompute_gelu)
  print(json.dumps(record))
  if FLAGS.output:
    fileio.append_json_record(FLAGS.output, record)


if __name__ == "__main__":
  app.run(main)
