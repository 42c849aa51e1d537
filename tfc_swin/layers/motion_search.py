"""Block-matching motion search: an encoder-side motion hint for the P-frame codecs.

Not in Zhu et al. 2022 or Agustsson et al. 2020, whose flow encoder sees only the frame and its
reference and learns motion estimation end to end (for about a million steps). At CPU step
budgets it never learned to (docs/zoo.md, "P-frame anatomy"), so a ``motion_hint`` config
(:class:`~tfc_swin.configs.MotionHint`) also gives the flow encoder this classical estimate;
the decoder and the file format are unchanged (the flow codec still transmits the field).

:func:`block_motion` is a full search: for every ``block x block`` block of the frame, the
integer displacement within ``+-search`` pixels whose reference block has the smallest mean
absolute luma difference, plus ``cost_per_pixel`` per pixel of displacement (L1) so that flat
or noisy blocks keep small vectors. The sign convention is the warp's
(:func:`~tfc_swin.layers.scale_space_flow.warp_volume`): ``frame[i, j] ~ reference[i + dy,
j + dx]``, so warping the reference by the result predicts the frame. The reference is
edge-extended, so blocks at the border may point outside.
"""
from __future__ import annotations

import tensorflow as tf

#: Mean absolute luma difference (0-255 levels) a displacement of one pixel must save.
COST_PER_PIXEL = 0.05


def _offsets(search: int) -> tf.Tensor:
  """All (dx, dy) in [-search, search]^2, the shortest (L1) first, so ties keep them."""
  pairs = [(dx, dy) for dy in range(-search, search + 1) for dx in range(-search, search + 1)]
  pairs.sort(key=lambda p: (abs(p[0]) + abs(p[1]), p[1], p[0]))
  return tf.constant(pairs, tf.int32)


def block_motion(frame: tf.Tensor, reference: tf.Tensor, block: int = 8, search: int = 16,
                 cost_per_pixel: float = COST_PER_PIXEL) -> tf.Tensor:
  """(B, H, W, C) frame and reference ([0, 255], H and W multiples of ``block``) -> (B, H, W, 2)
  float32 (dx, dy) in pixels, constant over each block; no gradient."""
  if block < 1 or search < 0:
    raise ValueError(f"block must be >= 1 and search >= 0, got {block} and {search}")
  luma = tf.reduce_mean(tf.cast(tf.stop_gradient(frame), tf.float32), -1, keepdims=True)
  ref = tf.reduce_mean(tf.cast(tf.stop_gradient(reference), tf.float32), -1, keepdims=True)
  shape = tf.shape(luma)
  height, width = shape[1], shape[2]
  rows = tf.clip_by_value(tf.range(-search, height + search), 0, height - 1)
  cols = tf.clip_by_value(tf.range(-search, width + search), 0, width - 1)
  padded = tf.gather(tf.gather(ref, rows, axis=1), cols, axis=2)
  offsets = _offsets(search)
  pooled = tf.nn.avg_pool2d(luma, block, block, "VALID")  # only for the output shape
  best = tf.fill(tf.shape(pooled), float("inf"))
  flow = tf.zeros(tf.concat([tf.shape(pooled)[:3], [2]], 0))

  def body(k, best, flow):
    dx, dy = offsets[k, 0], offsets[k, 1]
    shifted = tf.slice(padded, tf.stack([0, search + dy, search + dx, 0]),
                       tf.stack([shape[0], height, width, 1]))
    cost = tf.ensure_shape(tf.nn.avg_pool2d(tf.abs(luma - shifted), block, block, "VALID"),
                           best.shape)
    cost += cost_per_pixel * tf.cast(tf.abs(dx) + tf.abs(dy), tf.float32)
    better = cost < best
    vector = tf.cast(tf.stack([dx, dy]), tf.float32)
    flow = tf.where(better, vector + tf.zeros_like(flow), flow)
    return k + 1, tf.minimum(cost, best), flow

  _, _, flow = tf.while_loop(lambda k, *_: k < tf.shape(offsets)[0], body,
                             (tf.constant(0), best, flow), parallel_iterations=1)
  return tf.repeat(tf.repeat(flow, block, axis=1), block, axis=2)
