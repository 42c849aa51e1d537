"""Differentiable bicubic resampling on an affine grid (Ghorbel et al. 2023, sec. 3.3, Eq. 6).

AICT down-scales the image by the predicted factor s before coding and up-scales the decoded
image back, both with bicubic interpolation on a spatial-transformer sampling grid (Jaderberg
et al. 2015; Chen et al.'s learned down-sampling uses a bilinear warp). Here the warp is
computed on canvases of the real sizes, so inference codes a canvas of about (s H, s W).

Geometry. All coordinates live in the normalized frame of the full-resolution image
(``[-1, 1]`` across its H x W pixels, pixel pitch ``2 / H`` and ``2 / W``, origin at the
centre), the frame of a spatial transformer whose canvas is the full image. A canvas of any
size is centred in that frame with the full-resolution pitch. Output pixel centres are mapped
through ``theta = [[m, 0, 0], [0, m, 0]]`` to the points sampled in the input:

* up-scaling (``direction="up"``): ``m = s``, the STN transform theta = diag(s, s); output
  (H, W) samples the small canvas, whose image occupies ``[-s, s]``;
* down-scaling (``direction="down"``): ``m = 1 / s``, theta's inverse; the small output canvas
  is the centre crop of the STN's full-size output, where the shrunk image lies.

Along one axis (output size O, input size I; full-resolution size R = I when down-scaling,
R = O when up-scaling): output pixel j sits at ``x = (2 j + 1 - O) / R`` and reads input
position ``u = (m x R + I - 1) / 2`` (in input pixels, 0 = centre of the first one). When
``O = s I`` exactly (down) this is ``u = (j + 0.5) / s - 0.5``, the half-pixel-centre rule of
``tf.image.resize`` and PyTorch ``interpolate(align_corners=False)``; s = 1 is the identity.
When the canvas is larger than ``s R`` (sizes rounded or padded up by :func:`scaled_size`)
its border samples outside the image (replicated edge, smoothed by the kernel) and the
up-scaler reads the image part back (the padding only within the kernel's reach of the
edges): the pair is consistent without any cropping. A down-scaling canvas of the full size
(H, W) is the classic STN warp inside the full canvas (for training on fixed-size crops);
the same up-scaler reads it back. With a batch, each image may have its own s on a common
canvas.

Kernel: Keys cubic convolution with ``a = -0.75`` (PyTorch / OpenCV bicubic; TF2's
``tf.image.resize`` uses ``a = -0.5``). Borders: indexes clamped (replicate). Anti-aliasing
(``antialias=True``, default): when one output step covers ``m > 1`` input pixels (down-
scaling) the kernel is widened by ``m`` (``k(t / m)``, support ``2 m``), as in
``tf.image.resize(..., antialias=True)`` and PIL; weights are normalized to sum to 1. A plain
grid-sampling warp (``grid_sample`` style, 4 taps whatever s, as in STN implementations)
aliases when down-scaling; ``antialias=False`` reproduces that. Differences from
``tf.image.resize(method="bicubic")`` (tested at factor 2, where interiors agree to 1e-5 with
``a=-0.5``): the kernel parameter ``a``; at the borders TF drops out-of-image taps and
renormalizes instead of replicating; without antialiasing TF reads its weights from a
1024-entry table (errors up to ~1e-3 at positions between table entries).

Gradients flow to the image and to s (through the sampling positions and the kernel width);
the canvas size is an integer and carries no gradient. Cost: separable, one gather of
``2 * ceil(2 * max(1, m))`` taps per output pixel and axis (16 at s = 0.25 with
antialiasing); memory about ``taps x`` one intermediate image, so keep s away from 0 (the
resize parameter network bounds it below by ``s_min``).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import tensorflow as tf


def keys_cubic(t: tf.Tensor, a: float = -0.75) -> tf.Tensor:
  """Keys (1981) cubic convolution kernel; support ``|t| < 2``, ``k(0) = 1``, C1."""
  t = tf.abs(t)
  near = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
  far = ((t - 5.0) * t + 8.0) * t * a - 4.0 * a
  return tf.where(t < 1.0, near, tf.where(t < 2.0, far, tf.zeros_like(t)))


def scaled_size(height: int | tf.Tensor, width: int | tf.Tensor, s: float | tf.Tensor,
                multiple: int = 1) -> tuple[int, int] | tf.Tensor:
  """Canvas ``(h, w)`` for down-scaling ``height x width`` by ``s``.

  ``ceil(s * side)`` (so the whole down-scaled image fits), padded up to a multiple of
  ``multiple`` and at least ``multiple``. Python numbers give Python ints; tensors give an
  int32 tensor ``[h, w]``. ``s`` is a scalar: for a batch with one s per image pass the
  largest. A tiny tolerance absorbs float error (``0.3 * 10`` gives 3, not 4).
  """
  multiple = int(multiple)
  if multiple < 1:
    raise ValueError(f"multiple must be >= 1, got {multiple}")
  if all(isinstance(v, numbers.Real) for v in (height, width, s)):
    def side(n):
      n = math.ceil(float(s) * n * (1 - 1e-6))
      return max(multiple, -(-n // multiple) * multiple)
    return side(height), side(width)
  s = tf.cast(s, tf.float32)
  sides = tf.cast(tf.stack([height, width]), tf.float32)
  n = tf.cast(tf.math.ceil(s * sides * (1 - 1e-6)), tf.int32)
  n = (n + multiple - 1) // multiple * multiple
  return tf.maximum(n, multiple)


def _axis_weights(out_size: tf.Tensor, in_size: tf.Tensor, ref_size: tf.Tensor,
                  factor: tf.Tensor, a: float, antialias: bool
                  ) -> tuple[tf.Tensor, tf.Tensor]:
  """Clamped tap indexes ``(B, O, T)`` int32 and normalized weights ``(B, O, T)``."""
  dtype = factor.dtype
  o, i, r = (tf.cast(v, dtype) for v in (out_size, in_size, ref_size))
  x = (2.0 * tf.range(o) + 1.0 - o) / r  # (O,) output centres in the full-resolution frame
  u = (factor[:, None] * x[None, :] * r + i - 1.0) / 2.0  # (B, O) input positions
  widen = tf.maximum(factor, 1.0) if antialias else tf.ones_like(factor)
  radius = tf.cast(tf.math.ceil(2.0 * tf.stop_gradient(tf.reduce_max(widen)) - 1e-6),
                   tf.int32)
  base = tf.stop_gradient(tf.math.floor(u))
  offsets = tf.cast(tf.range(1 - radius, radius + 1), dtype)
  taps = base[..., None] + offsets  # (B, O, T)
  w = keys_cubic((taps - u[..., None]) / widen[:, None, None], a)
  w = w / tf.reduce_sum(w, axis=-1, keepdims=True)
  index = tf.cast(tf.clip_by_value(taps, 0.0, i - 1.0), tf.int32)
  return index, w


@tf.keras.utils.register_keras_serializable("tfc_swin")
class BicubicResampler(tf.keras.layers.Layer):
  """Bicubic down- or up-scaling by a (learned) factor s onto an explicit canvas size.

  ``call(images, scale, size=None)``: ``images`` ``(B, H, W, C)``; ``scale`` s in (0, 1], a
  scalar or one per image ``(B,)`` / ``(B, 1)``; ``size`` the output ``(height, width)``.
  ``direction="down"``: default size :func:`scaled_size` of the largest s (no padding);
  ``direction="up"``: ``size`` is required (the original image size). See the module
  docstring for the sampling grid, kernel, borders and anti-aliasing.
  """

  def __init__(self, direction: str = "down", a: float = -0.75, antialias: bool = True,
               **kwargs):
    super().__init__(**kwargs)
    if direction not in ("down", "up"):
      raise ValueError(f"direction must be 'down' or 'up', got {direction!r}")
    self.direction = direction
    self.a = float(a)
    self.antialias = bool(antialias)

  def call(self, images: tf.Tensor, scale: tf.Tensor | float,
           size: Sequence[int] | tf.Tensor | None = None) -> tf.Tensor:
    images = tf.cast(images, self.compute_dtype)
    dtype = images.dtype
    shape = tf.shape(images)
    batch, in_h, in_w = shape[0], shape[1], shape[2]
    s = tf.broadcast_to(tf.reshape(tf.cast(scale, dtype), [-1]), [batch])
    if size is None:
      if self.direction == "up":
        raise ValueError("direction='up' needs the output size (the original image size)")
      size = scaled_size(in_h, in_w, tf.reduce_max(tf.stop_gradient(s)))
    size = tf.cast(tf.convert_to_tensor(size), tf.int32)
    out_h, out_w = size[0], size[1]
    if self.direction == "down":
      factor, ref_h, ref_w = 1.0 / s, in_h, in_w
    else:
      factor, ref_h, ref_w = s, out_h, out_w
    index, w = _axis_weights(out_h, in_h, ref_h, factor, self.a, self.antialias)
    x = tf.gather(images, index, axis=1, batch_dims=1)  # (B, O_h, T, W, C)
    x = tf.einsum("bhtwc,bht->bhwc", x, w)
    index, w = _axis_weights(out_w, in_w, ref_w, factor, self.a, self.antialias)
    x = tf.gather(x, index, axis=2, batch_dims=1)  # (B, O_h, O_w, T, C)
    x = tf.einsum("bhwtc,bwt->bhwc", x, w)
    value = tf.get_static_value(size)
    if value is not None:
      x = tf.ensure_shape(x, [images.shape[0], int(value[0]), int(value[1]), images.shape[-1]])
    return x

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "direction": self.direction, "a": self.a,
            "antialias": self.antialias}
