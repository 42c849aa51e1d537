"""Time of the training step's elementwise ops, plain and XLA-fused, against the memory floor.

  python experiments/fused_ops_cost.py --tokens 131072 --channels 128 --threads 2

The ops of ``--xla_elementwise`` (:mod:`tfc_swin.layers.compiled`) at the sizes of the first
stage of paper-size SwinT at batch 8 of 256x256 (131,072 tokens of 128 channels, MLP width
4x, 4 heads of 8x8 windows): LayerNorm, bias + GELU on a bfloat16 matmul product, and the
attention weights (softmax of bfloat16 logits + relative bias + shift mask), each forward and
forward + backward, plain ops and fused. Each row also gives the bytes its inputs and outputs
take (forward: inputs + output; forward + backward: that plus the output gradient read and the
input gradients written) and the GB/s that makes, next to the machine's ``x * 3 + 1`` GB/s
measured in the same run (:func:`tfc_swin.profiling.timing.memory_bandwidth`).
"""
from __future__ import annotations

import contextlib
import statistics
from typing import Any, Callable, Sequence

import tensorflow as tf
from absl import app, flags

from tfc_swin import fileio
from tfc_swin.eval.tables import markdown_table
from tfc_swin.layers import compiled
from tfc_swin.layers.swin import shifted_window_mask
from tfc_swin.profiling.timing import memory_bandwidth, time_calls

FLAGS = flags.FLAGS
flags.DEFINE_integer("tokens", 131072, "Tokens (rows) of the LayerNorm / MLP tensors.")
flags.DEFINE_integer("channels", 128, "Channels; the MLP is 4x wider, heads are channels / 32.")
flags.DEFINE_integer("window", 8, "Attention window side (N = window^2 tokens per window).")
flags.DEFINE_integer("repeats", 10, "Timed calls per op (median).")
flags.DEFINE_integer("threads", 0, "TF intra-op threads (0: all cores).")
flags.DEFINE_string("output", "", "JSON list to append the record to (empty: print only).")


def _bytes(*tensors: tf.Tensor) -> int:
  return sum(t.shape.num_elements() * t.dtype.size for t in tensors)


def _forward_backward(fn: Callable[..., tf.Tensor]) -> Callable[..., list[tf.Tensor]]:
  """``fn``'s output and the gradients of its inputs for a fixed output gradient of ones."""

  def run(*args):
    with tf.GradientTape() as tape:
      tape.watch(args)
      out = fn(*args)
    return [out] + tape.gradient(out, list(args), output_gradients=tf.ones_like(out))

  return run


def _op_cases() -> list[tuple[str, Callable[..., tf.Tensor], list[tf.Tensor]]]:
  t, c = FLAGS.tokens, FLAGS.channels
  x = tf.random.stateless_normal([t, c], (1, 2))
  gamma, beta = tf.ones([c]), tf.zeros([c])
  product = tf.cast(tf.random.stateless_normal([t, 4 * c], (3, 4)), tf.bfloat16)
  bias = tf.zeros([4 * c])
  n, heads = FLAGS.window ** 2, max(1, c // 32)
  side = FLAGS.window * 4  # 16 windows per map, shifted by half a window
  mask = shifted_window_mask(side, side, FLAGS.window, FLAGS.window // 2)
  windows = mask.shape[0]
  logits = tf.cast(tf.random.stateless_normal([t // n // windows, windows, heads, n, n], (5, 6)),
                   tf.bfloat16)
  relative = tf.zeros([heads, n, n])
  return [
      ("LayerNorm", lambda x, g, b: compiled.layer_norm(x, g, b, 1e-5)
       if compiled.use_compiled(x) else _plain_layer_norm(x, g, b), [x, gamma, beta]),
      ("bias + GELU (bfloat16 product)",
       lambda p, b: compiled.bias_activation(p, b, compiled.gelu, tf.bfloat16), [product, bias]),
      ("attention weights (bfloat16 logits)",
       lambda l, r: compiled.attention_weights(l, r, mask, tf.bfloat16), [logits, relative]),
  ]


def _plain_layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
  mean, variance = tf.nn.moments(x, [-1], keepdims=True)
  return tf.nn.batch_normalization(x, mean, variance, beta, gamma, 1e-5)


def _time(fn: Callable[..., Any], inputs: Sequence[tf.Tensor], fused: bool) -> tuple[float, Any]:
  """Median seconds of ``fn`` traced with the plain or the fused ops, and its output."""
  context = compiled.compiled_elementwise() if fused else contextlib.nullcontext()
  with context:
    traced = tf.function(fn).get_concrete_function(*inputs)
  times, out = time_calls(traced, inputs, FLAGS.repeats, 1)
  return statistics.median(times), out


def measure() -> dict[str, Any]:
  """One record: ms and GB/s per op, pass and variant, and the machine's GB/s."""
  bandwidth = memory_bandwidth()
  rows = []
  for name, fn, inputs in _op_cases():
    for fused in (False, True):
      seconds, out = _time(fn, inputs, fused)
      forward_bytes = _bytes(*inputs, out)
      rows.append({"op": name, "pass": "forward", "fused": fused, "ms": seconds * 1e3,
                   "bytes": forward_bytes, "gbps": forward_bytes / seconds / 1e9})
      seconds, outs = _time(_forward_backward(fn), inputs, fused)
      both_bytes = forward_bytes + _bytes(outs[0], *[g for g in outs[1:] if g is not None])
      rows.append({"op": name, "pass": "forward + backward", "fused": fused,
                   "ms": seconds * 1e3, "bytes": both_bytes,
                   "gbps": both_bytes / seconds / 1e9})
  return {"tokens": FLAGS.tokens, "channels": FLAGS.channels, "window": FLAGS.window,
          "threads": FLAGS.threads, "machine_gbps": bandwidth["gbps"], "ops": rows}


def main(argv: list[str]) -> None:
  del argv
  if FLAGS.threads:
    tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
  record = measure()
  print(markdown_table(
      ["op", "pass", "ops", "ms", "MB in + out", "GB/s"],
      [[r["op"], r["pass"], "XLA-fused" if r["fused"] else "plain", f"{r['ms']:.1f}",
        f"{r['bytes'] / 1e6:.0f}", f"{r['gbps']:.1f}"] for r in record["ops"]]))
  print(f"machine: x * 3 + 1 at {record['machine_gbps']:.1f} GB/s")
  if FLAGS.output:
    fileio.append_json_record(FLAGS.output, record)


if __name__ == "__main__":
  app.run(main)
