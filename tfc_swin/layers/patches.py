"""Patch merge / split and Swin stages (Zhu et al. 2022, sec. 3.1, Fig. 2 and 13)."""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfc_swin.layers.precision import Linear
from tfc_swin.layers.shapes import dims
from tfc_swin.layers.swin import SwinTransformerBlock, norm_or_identity


class _Resample(tf.keras.layers.Layer):
  """Shared arguments of PatchMerge / PatchSplit."""

  def __init__(self, filters: int, layer_norm: bool = True, use_bias: bool = False,
               factor: int = 2, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.layer_norm = bool(layer_norm)
    self.use_bias = bool(use_bias)
    self.factor = int(factor)

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "filters": self.filters, "layer_norm": self.layer_norm,
            "use_bias": self.use_bias, "factor": self.factor}


@tf.keras.utils.register_keras_serializable("tfc_swin")
class PatchMerge(_Resample):
  """Space-to-depth -> LayerNorm -> Linear: divides height and width by ``factor`` (2; 4 for
  the first merge of SwinT-SSF, Zhu et al. App. A.2) (Patch Merge block).

  Sides that are not multiples of ``factor`` are zero-padded first. ``layer_norm=False`` with
  ``use_bias=True`` is the patch embedding applied to raw pixels (a strided linear map).
  """

  def build(self, input_shape: tf.TensorShape) -> None:
    self.norm = norm_or_identity(self.layer_norm, "norm")
    self.linear = Linear(self.filters, use_bias=self.use_bias, bfloat16=not self.use_bias,
                         name="linear")
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    _, h, w, _ = dims(x)
    f = self.factor
    x = tf.pad(x, [[0, 0], [0, -h % f], [0, -w % f], [0, 0]])
    return self.linear(self.norm(tf.nn.space_to_depth(x, f)))


@tf.keras.utils.register_keras_serializable("tfc_swin")
class PatchSplit(_Resample):
  """Linear -> LayerNorm -> depth-to-space: multiplies height and width by ``factor``
  (Patch Split block).

  ``layer_norm=False`` with ``use_bias=True`` is the final un-embedding to pixels or to
  entropy parameters.
  """

  def build(self, input_shape: tf.TensorShape) -> None:
    self.linear = Linear(self.factor ** 2 * self.filters, use_bias=self.use_bias,
                         bfloat16=not self.use_bias, name="linear")
    self.norm = norm_or_identity(self.layer_norm, "norm")
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    return tf.nn.depth_to_space(self.norm(self.linear(x)), self.factor)


@tf.keras.utils.register_keras_serializable("tfc_swin")
class SwinStage(tf.keras.layers.Layer):
  """One resolution stage: ``depth`` Swin blocks (every second one shifted) with a resampler.

  ``resample="merge"``: PatchMerge to ``filters`` first, then the blocks (encoder stage).
  ``resample="split"``: the blocks first, then PatchSplit to ``filters`` (decoder stage).
  ``resample_norm``/``resample_bias``/``factor`` configure that merge/split (see
  PatchMerge/PatchSplit).
  """

  def __init__(self, filters: int, depth: int, resample: str = "merge", window_size: int = 8,
               head_dim: int = 32, mlp_ratio: float = 4.0, layer_norm: bool = True,
               relative_position_bias: bool = True, shifted_windows: bool = True,
               resample_norm: bool = True, resample_bias: bool = False,
               fixed_window: bool = False, factor: int = 2, **kwargs):
    super().__init__(**kwargs)
    if resample not in ("merge", "split"):
      raise ValueError(f"resample must be 'merge' or 'split', got {resample!r}")
    self.filters = int(filters)
    self.depth = int(depth)
    self.resample = resample
    self.window_size = int(window_size)
    self.head_dim = int(head_dim)
    self.mlp_ratio = float(mlp_ratio)
    self.layer_norm = bool(layer_norm)
    self.relative_position_bias = bool(relative_position_bias)
    self.shifted_windows = bool(shifted_windows)
    self.resample_norm = bool(resample_norm)
    self.resample_bias = bool(resample_bias)
    self.fixed_window = bool(fixed_window)
    self.factor = int(factor)

  def build(self, input_shape: tf.TensorShape) -> None:
    resampler = PatchMerge if self.resample == "merge" else PatchSplit
    self.resampler = resampler(self.filters, layer_norm=self.resample_norm and self.layer_norm,
                               use_bias=self.resample_bias, factor=self.factor,
                               name=self.resample)
    self.blocks = [
        SwinTransformerBlock(self.window_size, shift=self.shifted_windows and i % 2 == 1,
                             head_dim=self.head_dim, mlp_ratio=self.mlp_ratio,
                             layer_norm=self.layer_norm,
                             relative_position_bias=self.relative_position_bias,
                             fixed_window=self.fixed_window, name=f"block{i}")
        for i in range(self.depth)]
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    if self.resample == "merge":
      x = self.resampler(x)
    for block in self.blocks:
      x = block(x)
    if self.resample == "split":
      x = self.resampler(x)
    return x

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "filters": self.filters, "depth": self.depth,
            "resample": self.resample, "window_size": self.window_size,
            "head_dim": self.head_dim, "mlp_ratio": self.mlp_ratio,
            "layer_norm": self.layer_norm,
            "relative_position_bias": self.relative_position_bias,
            "shifted_windows": self.shifted_windows, "resample_norm": self.resample_norm,
            "resample_bias": self.resample_bias, "fixed_window": self.fixed_window,
            "factor": self.factor}
