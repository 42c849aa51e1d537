"""ConvNeXt blocks and the AICT pre-/post-processor (Ghorbel et al. 2023, sec. 3.3, Fig. 2, 3c).

AICT places a learnable processor before the bicubic down-scaler and after the up-scaler: the
input concatenated with the output of three successive ConvNeXt blocks (Liu et al. 2022),
projected back to RGB. Choices the paper leaves open (documented on each class):

* block: the ConvNeXt design of Fig. 3c (7x7 depthwise conv -> LayerNorm -> Dense(4C) ->
  GELU -> Dense(C) -> layer scale -> residual), LayerNorm eps 1e-6 and layer scale 1e-6 as
  in ConvNeXt; no stochastic depth.
* processor: a 3x3 input projection from RGB to ``width`` (32) channels, the three blocks,
  the concatenation of the (scaled) RGB input with their output, and a 3x3 projection to RGB.
  With ``width=32`` the two processors (31,988 parameters each) plus the default
  ResizeParameterNetwork (30,369) have 94,345 parameters, close to the 98.0k that separate
  AICT (37.2304M) from ICT (37.1324M) in Table 4 (the paper gives no widths).
* pixel range and initialization: see ``ConvNeXtProcessor`` (residual, zero-initialized
  output projection: a fresh processor is the identity).
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfc_swin.layers import compiled
from tfc_swin.layers.swin import LayerNorm


@tf.keras.utils.register_keras_serializable("tfc_swin")
class ConvNeXtBlock(tf.keras.layers.Layer):
  """ConvNeXt block (Fig. 3c; Liu et al. 2022): DConv 7x7 -> LN -> Dense(r C) -> GELU ->
  Dense(C) -> layer scale -> + input.

  ``layer_scale_init`` (1e-6) is the initial value of the learnable per-channel scale gamma;
  so a fresh block is almost the identity. Works on any ``(B, H, W, C)`` size (zero "same"
  padding of the depthwise convolution). LayerNorm and GELU are the Swin blocks' (Keras' values;
  XLA-fused in training steps with ``--xla_elementwise``, :mod:`.compiled`).
  """

  def __init__(self, kernel_size: int = 7, expansion: int = 4,
               layer_scale_init: float = 1e-6, epsilon: float = 1e-6, **kwargs):
    super().__init__(**kwargs)
    self.kernel_size = int(kernel_size)
    self.expansion = int(expansion)
    self.layer_scale_init = float(layer_scale_init)
    self.epsilon = float(epsilon)

  def build(self, input_shape: tf.TensorShape) -> None:
    dim = int(input_shape[-1])
    self.dwconv = tf.keras.layers.DepthwiseConv2D(self.kernel_size, padding="same",
                                                  name="dwconv")
    self.norm = LayerNorm(epsilon=self.epsilon, name="norm")
    self.pwconv1 = tf.keras.layers.Dense(self.expansion * dim, activation=compiled.gelu,
                                         name="pwconv1")
    self.pwconv2 = tf.keras.layers.Dense(dim, name="pwconv2")
    self.gamma = self.add_weight(
        name="gamma", shape=(dim,),
        initializer=tf.keras.initializers.Constant(self.layer_scale_init))
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    t = self.pwconv2(self.pwconv1(self.norm(self.dwconv(x))))
    return x + self.gamma * t

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "kernel_size": self.kernel_size,
            "expansion": self.expansion, "layer_scale_init": self.layer_scale_init,
            "epsilon": self.epsilon}


@tf.keras.utils.register_keras_serializable("tfc_swin")
class ConvNeXtProcessor(tf.keras.layers.Layer):
  """AICT pre-/post-processor (sec. 3.3): RGB -> conv -> 3 ConvNeXt blocks -> concat with the
  input -> conv -> RGB, with a residual around the whole processor.

  Images are RGB in ``[0, input_scale]`` (255 for the codecs): the network sees
  ``x / input_scale`` and its correction is scaled back, ``y = x + input_scale * f(x /
  input_scale)``, so the convolutions work on unit-range values whatever the codec's pixel
  range. Choice for pretrained codecs: with ``residual=True`` and ``zero_init=True`` (the
  defaults) the output projection starts at zero, so a fresh processor is exactly the
  identity and does not disturb a pretrained ICT when AICT is fine-tuned from it; the
  projection still receives gradients from the first step (its input is not zero), and the
  blocks start learning once it has moved. ``residual=False`` gives the paper's literal
  layout (the projection's output is the image).

  ``width`` 32 channels and ``depth`` 3 blocks (Table 1: d_0 = 3); the input and output
  projections are ``kernel_size`` x ``kernel_size`` (3) convolutions. Trainable parameters
  for RGB and the defaults: 896 + 3 * 10,048 + 948 = 31,988.
  """

  def __init__(self, width: int = 32, depth: int = 3, out_channels: int = 3,
               kernel_size: int = 3, block_kernel_size: int = 7, input_scale: float = 255.0,
               residual: bool = True, zero_init: bool = True, **kwargs):
    super().__init__(**kwargs)
    self.width = int(width)
    self.depth = int(depth)
    self.out_channels = int(out_channels)
    self.kernel_size = int(kernel_size)
    self.block_kernel_size = int(block_kernel_size)
    self.input_scale = float(input_scale)
    self.residual = bool(residual)
    self.zero_init = bool(zero_init)

  def build(self, input_shape: tf.TensorShape) -> None:
    channels = int(input_shape[-1])
    if self.residual and channels != self.out_channels:
      raise ValueError(f"residual processor needs {self.out_channels} input channels, "
                       f"got {channels}")
    self.project_in = tf.keras.layers.Conv2D(self.width, self.kernel_size, padding="same",
                                             name="project_in")
    self.blocks = [ConvNeXtBlock(self.block_kernel_size, name=f"block{i}")
                   for i in range(self.depth)]
    init = "zeros" if self.zero_init else "glorot_uniform"
    self.project_out = tf.keras.layers.Conv2D(self.out_channels, self.kernel_size,
                                              padding="same", kernel_initializer=init,
                                              name="project_out")
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    x = tf.cast(x, self.compute_dtype)
    u = x / self.input_scale
    t = self.project_in(u)
    for block in self.blocks:
      t = block(t)
    t = self.project_out(tf.concat([u, t], axis=-1)) * self.input_scale
    return x + t if self.residual else t

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "width": self.width, "depth": self.depth,
            "out_channels": self.out_channels, "kernel_size": self.kernel_size,
            "block_kernel_size": self.block_kernel_size, "input_scale": self.input_scale,
            "residual": self.residual, "zero_init": self.zero_init}
