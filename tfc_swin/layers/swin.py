"""Swin Transformer layers for transform coding (Zhu et al. 2022, sec. 3.1, Fig. 2 and 13).

All layers work on channels-last feature maps ``(batch, height, width, channels)`` of any
spatial size (sizes may be unknown when a graph is traced). By default window sizes shrink to
the map when the map is not larger than a window, and the shift is then dropped, as in Swin
(Liu et al. 2021). With ``fixed_window=True`` a block always uses its full window and shift
(maps are padded up to the window), as the paper's implementations do: then a model trained
on small crops runs the same computation on large images (training crops of 128 give 8x8
maps at 1/16 resolution, which Swin's rule would code unshifted).
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfc_swin.layers import compiled
from tfc_swin.layers.precision import KeepsBFloat16Inputs, Linear, matmul_input_dtype
from tfc_swin.layers.shapes import Dim, dims, is_static

_MASK_VALUE = -100.0


def _num_heads(dim: int, head_dim: int) -> int:
  heads = max(1, dim // head_dim)
  if dim % heads:
    raise ValueError(f"feature size {dim} is not divisible into {heads} heads of {head_dim}")
  return heads


def effective_window(height: Dim, width: Dim, window_size: int,
                     shift: bool, fixed: bool = False) -> tuple[Dim, Dim]:
  """Window size and shift used for a ``height x width`` map (Python ints when the sizes
  are, or ``fixed``).

  Swin's rule (``fixed=False``): a map whose smaller side is not larger than the window gets
  one window of that side and no shift. ``fixed=True``: always ``window_size`` and, for
  shifted blocks, ``window_size // 2``.
  """
  if fixed:
    return window_size, window_size // 2 if shift else 0
  if is_static(height, width):
    small = min(height, width) <= window_size
    window = min(height, width) if small else window_size
    return window, 0 if small or not shift else window_size // 2
  side = tf.minimum(height, width)
  small = side <= window_size
  window = tf.where(small, side, window_size)
  if not shift:
    return window, tf.constant(0)
  return window, tf.where(small, 0, window_size // 2)


def window_partition(x: tf.Tensor, window: Dim) -> tf.Tensor:
  """``(B, H, W, C)`` with H, W multiples of ``window`` -> ``(B * nW, window**2, C)``."""
  b, h, w, c = dims(x)
  x = tf.reshape(x, [b, h // window, window, w // window, window, c])
  x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
  return tf.reshape(x, [-1, window * window, c])


def window_merge(windows: tf.Tensor, window: Dim, batch: Dim, height: Dim, width: Dim
                 ) -> tf.Tensor:
  """Inverse of :func:`window_partition`."""
  c = windows.shape[-1]
  x = tf.reshape(windows, [batch, height // window, width // window, window, window, c])
  x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
  return tf.reshape(x, [batch, height, width, c])


def shifted_window_mask(height: Dim, width: Dim, window: Dim, shift: Dim) -> tf.Tensor:
  """Additive attention mask ``(nW, N, N)`` for the cyclically shifted map.

  Tokens that the cyclic shift brought together from distant regions may not attend to each
  other. All zeros when ``shift == 0``.
  """

  def regions(size):
    pos = tf.range(size)
    return tf.where(pos < size - window, 0, tf.where(pos < size - shift, 1, 2))

  ids = regions(height)[:, None] * 3 + regions(width)[None, :]
  ids = window_partition(ids[None, :, :, None], window)[..., 0]  # (nW, N)
  mask = tf.cast(tf.not_equal(ids[:, None, :], ids[:, :, None]), tf.float32) * _MASK_VALUE
  return mask * tf.cast(shift > 0, tf.float32)


@tf.keras.utils.register_keras_serializable("tfc_swin")
class WindowAttention(KeepsBFloat16Inputs, tf.keras.layers.Layer):
  """Multi-head self-attention inside non-overlapping windows (W-MSA, Zhu et al. sec. 3.1).

  Input: ``(num_windows * batch, N, C)`` token windows, N = w'^2 with w' <= ``window_size``.
  Heads have ``head_dim`` features each (32 in the paper). A learned relative position bias
  over ``(2 * window_size - 1)^2`` offsets is added to the logits unless
  ``relative_position_bias=False`` (paper's ablation, sec. 4.4).
  """

  def __init__(self, window_size: int = 8, head_dim: int = 32,
               relative_position_bias: bool = True, qkv_bias: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.window_size = int(window_size)
    self.head_dim = int(head_dim)
    self.relative_position_bias = bool(relative_position_bias)
    self.qkv_bias = bool(qkv_bias)

  def build(self, input_shape: tf.TensorShape) -> None:
    dim = int(input_shape[-1])
    self.num_heads = _num_heads(dim, self.head_dim)
    self.qkv = Linear(3 * dim, use_bias=self.qkv_bias, bfloat16_output=True, name="qkv")
    self.proj = Linear(dim, name="proj")
    if self.relative_position_bias:
      self.bias_table = self.add_weight(
          name="relative_position_bias_table",
          shape=((2 * self.window_size - 1) ** 2, self.num_heads),
          initializer=tf.keras.initializers.TruncatedNormal(stddev=0.02))
    super().build(input_shape)

  def relative_bias(self, window: Dim) -> tf.Tensor:
    """Bias ``(heads, N, N)`` for a window of side ``window`` (<= window_size)."""
    coords = tf.range(window)
    yy, xx = tf.meshgrid(coords, coords, indexing="ij")
    flat = tf.stack([tf.reshape(yy, [-1]), tf.reshape(xx, [-1])], axis=-1)
    rel = flat[:, None, :] - flat[None, :, :] + (self.window_size - 1)
    index = rel[..., 0] * (2 * self.window_size - 1) + rel[..., 1]
    return tf.transpose(tf.gather(self.bias_table, index), [2, 0, 1])

  def call(self, windows: tf.Tensor, window: tf.Tensor | None = None,
           attention_mask: tf.Tensor | None = None) -> tf.Tensor:
    """Attends within each window; ``attention_mask`` is ``(nW, N, N)`` additive, or None.
    Inside :func:`~tfc_swin.layers.precision.bfloat16_matmuls` q, k, v and the attention
    weights are bfloat16; bias, mask and softmax run in float32."""
    bw, n, dim = dims(windows)
    qkv = tf.reshape(self.qkv(windows), [bw, n, 3, self.num_heads, dim // self.num_heads])
    q, k, v = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]), axis=0)  # (bw, heads, n, hd)
    scale = (dim // self.num_heads) ** -0.5
    if not compiled.fuses_attention(q.dtype):  # Else the fused softmax scales the logits.
      q, scale = q * scale, 1.0
    # Biases are added to a reshaped view of the logits: added right after the matmul,
    # oneDNN fuses them into a batch-matmul kernel that runs ~100x slower for few heads.
    nw = 1 if attention_mask is None else dims(attention_mask)[0]
    logits = tf.reshape(tf.matmul(q, k, transpose_b=True), [bw // nw, nw, self.num_heads, n, n])
    bias = None
    if self.relative_position_bias:
      if window is None and is_static(n):
        window = round(n ** 0.5)
      elif window is None:
        window = tf.cast(tf.round(tf.sqrt(tf.cast(n, tf.float32))), tf.int32)
      bias = self.relative_bias(window)
    attn = compiled.attention_weights(logits, bias, attention_mask, v.dtype, scale)
    attn = tf.reshape(attn, [bw, self.num_heads, n, n])
    out = tf.reshape(tf.transpose(tf.matmul(attn, v), [0, 2, 1, 3]), [bw, n, dim])
    return self.proj(out)

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "window_size": self.window_size, "head_dim": self.head_dim,
            "relative_position_bias": self.relative_position_bias, "qkv_bias": self.qkv_bias}


@tf.keras.utils.register_keras_serializable("tfc_swin")
class LayerNorm(tf.keras.layers.LayerNormalization):
  """Keras LayerNormalization over the last axis that also runs in float64 with float32
  weights (see :mod:`tfc_swin.layers.precision`); float32 results are Keras' exactly, except
  in training steps (:mod:`tfc_swin.layers.compiled`)."""

  def call(self, inputs: tf.Tensor, output_dtype: tf.DType | None = None) -> tf.Tensor:
    """``output_dtype``: cast the result (bfloat16 for a bfloat16 matmul; fused with XLA)."""
    if compiled.use_compiled(inputs):
      return compiled.layer_norm(inputs, self.gamma, self.beta, self.epsilon, output_dtype)
    if output_dtype is not None:
      return tf.cast(self.call(inputs), output_dtype)
    if inputs.dtype == self.gamma.dtype:
      return super().call(inputs)
    mean, variance = tf.nn.moments(inputs, [-1], keepdims=True)
    return tf.nn.batch_normalization(inputs, mean, variance, tf.cast(self.beta, inputs.dtype),
                                     tf.cast(self.gamma, inputs.dtype), self.epsilon)


def norm_or_identity(use: bool, name: str) -> tf.keras.layers.Layer:
  """LayerNorm (eps 1e-5), or an identity layer when LayerNorm is switched off."""
  if use:
    return LayerNorm(epsilon=1e-5, name=name)
  return tf.keras.layers.Activation("linear", name=name)


@tf.keras.utils.register_keras_serializable("tfc_swin")
class SwinTransformerBlock(tf.keras.layers.Layer):
  """Swin block: LN -> (S)W-MSA -> residual -> LN -> MLP -> residual (Zhu et al. Fig. 2).

  ``shift=True`` makes it the shifted-window variant (shift = window/2, with the attention
  mask). Sides that are not multiples of the window are zero-padded inside the block and
  cropped back. ``layer_norm=False`` drops both LayerNorms (SwinT-SSF flow codec, sec. 3.2).
  ``fixed_window``: never shrink the window or drop the shift on small maps (module doc).
  ``recompute`` (not part of the config; see :func:`recompute_swin_blocks`): keep only the
  block's input for the backward pass and compute its activations again there.
  """

  recompute = False

  def __init__(self, window_size: int = 8, shift: bool = False, head_dim: int = 32,
               mlp_ratio: float = 4.0, layer_norm: bool = True,
               relative_position_bias: bool = True, fixed_window: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.window_size = int(window_size)
    self.shift = bool(shift)
    self.fixed_window = bool(fixed_window)
    self.head_dim = int(head_dim)
    self.mlp_ratio = float(mlp_ratio)
    self.layer_norm = bool(layer_norm)
    self.relative_position_bias = bool(relative_position_bias)

  def build(self, input_shape: tf.TensorShape) -> None:
    dim = int(input_shape[-1])
    self.norm1 = norm_or_identity(self.layer_norm, "norm1")
    self.norm2 = norm_or_identity(self.layer_norm, "norm2")
    self.attn = WindowAttention(self.window_size, self.head_dim, self.relative_position_bias,
                                name="attn")
    self.mlp = tf.keras.Sequential([
        Linear(int(dim * self.mlp_ratio), activation=compiled.gelu, bfloat16_output=True,
               name="fc1"),
        Linear(dim, name="fc2"),
    ], name="mlp")
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    if self.recompute:
      return tf.recompute_grad(self._block)(x)
    return self._block(x)

  def _block(self, x: tf.Tensor) -> tf.Tensor:
    b, h, w, _ = dims(x)
    window, shift = effective_window(h, w, self.window_size, self.shift, self.fixed_window)
    hp = (h + window - 1) // window * window
    wp = (w + window - 1) // window * window
    t = tf.pad(self._norm_for_matmul(self.norm1, x), [[0, 0], [0, hp - h], [0, wp - w], [0, 0]])
    t = tf.roll(t, shift=[-shift, -shift], axis=[1, 2])
    mask = shifted_window_mask(hp, wp, window, shift) if self.shift else None
    t = self.attn(window_partition(t, window), window=window, attention_mask=mask)
    t = window_merge(t, window, b, hp, wp)
    t = tf.roll(t, shift=[shift, shift], axis=[1, 2])[:, :h, :w, :]
    x = x + t
    return x + self._mlp(self._norm_for_matmul(self.norm2, x))

  def _mlp(self, x: tf.Tensor) -> tf.Tensor:
    """The MLP; in fused bfloat16 training steps its GELU is computed again in the backward
    pass instead of kept (:func:`~tfc_swin.layers.compiled.gelu_linear`)."""
    fc1, fc2 = self.mlp.layers
    if not (compiled.fuses_mlp(x) and fc1.use_bias and fc2.use_bias):
      return self.mlp(x)
    if not self.mlp.built:  # Here, as a first plain call would: weights in the same order.
      self.mlp.build(x.shape)
    sizes = dims(x)
    product = tf.matmul(tf.reshape(x, [-1, sizes[-1]]), tf.cast(fc1.kernel, tf.bfloat16))
    return tf.reshape(compiled.gelu_linear(product, fc1.bias, fc2.kernel, fc2.bias), sizes)

  @staticmethod
  def _norm_for_matmul(norm: tf.keras.layers.Layer, x: tf.Tensor) -> tf.Tensor:
    """``norm(x)`` in the dtype of the matmul that reads it: bfloat16 inside
    :func:`~tfc_swin.layers.precision.bfloat16_matmuls` for float32 ``x`` (the window
    partition then moves half the bytes), else ``x``'s."""
    dtype = matmul_input_dtype() if x.dtype == tf.float32 else None
    if dtype is None:
      return norm(x)
    if isinstance(norm, LayerNorm):
      return norm(x, output_dtype=dtype)
    return tf.cast(norm(x), dtype)

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "window_size": self.window_size, "shift": self.shift,
            "head_dim": self.head_dim, "mlp_ratio": self.mlp_ratio,
            "layer_norm": self.layer_norm,
            "relative_position_bias": self.relative_position_bias,
            "fixed_window": self.fixed_window}


def recompute_swin_blocks(module: tf.Module) -> int:
  """Makes every Swin block of ``module`` recompute its activations in the backward pass
  (gradient checkpointing, Chen et al. 2016): training keeps one feature map per block instead
  of its attention logits and MLP activations, for about one more forward pass of compute.
  Same weights and results. Returns the number of blocks switched."""
  blocks = [m for m in module.submodules if isinstance(m, SwinTransformerBlock)]
  for block in blocks:
    block.recompute = True
  return len(blocks)
