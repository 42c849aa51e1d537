"""Resize parameter network of AICT (Ghorbel et al. 2023, sec. 3.3, Fig. 3a-b).

The paper: "an adaptive spatial resize factor s in [0, 1] estimated by the RPN module, which
consists of three stages of residual blocks (ResBlocks)"; Fig. 3a/b give the layouts without
sizes. Our choices:

* input: RGB in ``[0, input_scale]`` (255), clipped to that range and divided by it, so
  out-of-range or huge values cannot overflow the convolutions;
* a 3x3 stem convolution to ``widths[0]``; stage k is one ResBlock at ``widths[k]``
  (3x3 conv -> ReLU -> 3x3 conv, plus the skip, then ReLU); between stages a 3x3 stride-2
  convolution (ReLU) changes the width and halves the map ("same" padding: any size, 1x1
  included); widths (8, 16, 32);
* global average pooling (one feature vector per image, so any size and batch > 1 give one s
  per image), then a dense layer to one logit;
* ``s = s_min + (1 - s_min) * sigmoid(logit)`` with ``s_min = 0.25``: s is in
  ``(s_min, 1)``, never 0 or NaN for finite inputs (the paper's range is [0, 1]; s = 0 would
  be an empty canvas). The codec may treat s close to 1 as "skip the scale module" (sec. 3.3).
* initialization: the dense kernel starts at zero and its bias at the logit of
  ``initial_scale`` (0.95), so every image starts at s = 0.95: close to 1, where a pretrained
  ICT works, and away from sigmoid saturation so s still learns.

Parameters with the defaults: 30,369 (with two default ConvNeXtProcessors, 94,345: AICT -
ICT is 98.0k in Table 4).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import tensorflow as tf


@tf.keras.utils.register_keras_serializable("tfc_swin")
class ResBlock(tf.keras.layers.Layer):
  """conv 3x3 -> ReLU -> conv 3x3, plus the input, then ReLU (Fig. 3b); keeps the shape."""

  def __init__(self, kernel_size: int = 3, **kwargs):
    super().__init__(**kwargs)
    self.kernel_size = int(kernel_size)

  def build(self, input_shape: tf.TensorShape) -> None:
    dim = int(input_shape[-1])
    self.conv1 = tf.keras.layers.Conv2D(dim, self.kernel_size, padding="same",
                                        activation="relu", name="conv1")
    self.conv2 = tf.keras.layers.Conv2D(dim, self.kernel_size, padding="same", name="conv2")
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu(x + self.conv2(self.conv1(x)))

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "kernel_size": self.kernel_size}


@tf.keras.utils.register_keras_serializable("tfc_swin")
class ResizeParameterNetwork(tf.keras.layers.Layer):
  """RPN (sec. 3.3, Fig. 3a): image ``(B, H, W, 3)`` in [0, 255] -> s ``(B,)`` in (s_min, 1).

  Three ResBlock stages with stride-2 downsampling between them, global average pooling and
  a dense layer to a logit squashed into ``(s_min, 1)``; see the module docstring.
  """

  def __init__(self, widths: Sequence[int] = (8, 16, 32), s_min: float = 0.25,
               initial_scale: float = 0.95, input_scale: float = 255.0, **kwargs):
    super().__init__(**kwargs)
    self.widths = tuple(int(w) for w in widths)
    self.s_min = float(s_min)
    self.initial_scale = float(initial_scale)
    self.input_scale = float(input_scale)
    if not 0.0 < self.s_min < 1.0:
      raise ValueError(f"s_min must be in (0, 1), got {self.s_min}")
    if not self.s_min < self.initial_scale < 1.0:
      raise ValueError(f"initial_scale must be in (s_min, 1), got {self.initial_scale}")

  def build(self, input_shape: tf.TensorShape) -> None:
    conv = lambda c, name, stride=1: tf.keras.layers.Conv2D(  # noqa: E731
        c, 3, strides=stride, padding="same", activation="relu", name=name)
    self.stem = conv(self.widths[0], "stem")
    self.stages = [ResBlock(name=f"stage{k}") for k in range(len(self.widths))]
    self.downs = [conv(c, f"down{k}", 2) for k, c in enumerate(self.widths[1:])]
    p = (self.initial_scale - self.s_min) / (1.0 - self.s_min)
    self.head = tf.keras.layers.Dense(
        1, kernel_initializer="zeros",
        bias_initializer=tf.keras.initializers.Constant(math.log(p / (1.0 - p))), name="head")
    super().build(input_shape)

  def call(self, images: tf.Tensor) -> tf.Tensor:
    x = tf.cast(images, self.compute_dtype)
    x = tf.clip_by_value(x, 0.0, self.input_scale) / self.input_scale
    x = self.stem(x)
    for k, stage in enumerate(self.stages):
      if k:
        x = self.downs[k - 1](x)
      x = stage(x)
    logit = self.head(tf.reduce_mean(x, axis=[1, 2]))[:, 0]
    return self.s_min + (1.0 - self.s_min) * tf.sigmoid(logit)

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "widths": list(self.widths), "s_min": self.s_min,
            "initial_scale": self.initial_scale, "input_scale": self.input_scale}
