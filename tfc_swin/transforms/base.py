"""The four transforms of a codec and the registry that builds them from a transform config."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import tensorflow as tf

from tfc_swin.registry import Registry


class Transforms(NamedTuple):
  """g_a: image -> y; g_s: y_hat -> image; h_a: y -> z; h_s: z_hat -> entropy parameters."""
  g_a: tf.keras.layers.Layer
  g_s: tf.keras.layers.Layer
  h_a: tf.keras.layers.Layer
  h_s: tf.keras.layers.Layer


#: Builders ``(transform config, entropy-parameter channels) -> Transforms`` by config kind.
TRANSFORMS: Registry[Callable[[Any, int], Transforms]] = Registry("transform kind")


def output_layer(synthesis: tf.keras.Sequential) -> tf.keras.layers.Layer:
  """The layer that makes a synthesis transform's output: its last layer with weights (in a
  Swin decoder stage, the stage's final patch split)."""
  last = [layer for layer in synthesis.layers if layer.trainable_weights][-1]
  return getattr(last, "resampler", last)


def build_transforms(config: Any, params_channels: int) -> Transforms:
  """Builds the transforms of a transform config (``ConvTransform``, ``SwinTransform``, ...);
  h_s outputs ``params_channels`` (the latent prior's parameters)."""
  return TRANSFORMS.get(config.kind)(config, params_channels)
