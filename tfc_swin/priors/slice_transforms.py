"""ChARM slice transforms: networks predicting a slice's mean or scale (Zhu et al. Fig. 12).

Pluggable by name through :func:`build_slice_transform`, so other slice networks (e.g. the
Transformer slice transform of ICT, Ghorbel et al. 2023) register beside the convolutional one.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

import tensorflow as tf
import tensorflow_compression as tfc

_REGISTRY: dict[str, Callable[..., tf.keras.layers.Layer]] = {}
_SliceTransform = TypeVar("_SliceTransform", bound=Callable[..., tf.keras.layers.Layer])


def register_slice_transform(name: str) -> Callable[[_SliceTransform], _SliceTransform]:
  """Class decorator adding a slice transform under ``name``."""

  def wrap(cls: _SliceTransform) -> _SliceTransform:
    _REGISTRY[name] = cls
    return cls

  return wrap


def build_slice_transform(kind: str, in_channels: int, out_channels: int, **kwargs
                          ) -> tf.keras.layers.Layer:
  """A slice network from ``in_channels`` (hyper slice + previous slices read) to
  ``out_channels``. Every kind also accepts ``uncapped_in_channels``: the input it would read
  without a support cap (ChARM's ``max_support``)."""
  if kind not in _REGISTRY:
    raise ValueError(f"unknown slice transform {kind!r}; known: {sorted(_REGISTRY)}")
  return _REGISTRY[kind](in_channels=in_channels, out_channels=out_channels, **kwargs)


def charm_widths(in_channels: int, out_channels: int) -> tuple[int, int]:
  """Hidden widths of a ChARM slice network: about 2/3 and 1/3 of the way from input to output.

  For 320 latent channels in 10 slices this gives (64, 32) for the first slice up to
  (234, 117) for the tenth, the sizes of the paper's released profile.
  """
  first = max(2 * out_channels, 2 * (in_channels + out_channels) // 3)
  return first, first // 2


@register_slice_transform("conv")
@tf.keras.utils.register_keras_serializable("tfc_swin")
class ConvSliceTransform(tf.keras.layers.Layer):
  """Three 3x3 convolutions (ReLU between) from the slice support to the slice's parameters.

  Hidden widths follow :func:`charm_widths` of ``uncapped_in_channels`` (default
  ``in_channels``): a support cap only removes input channels. With 5 previous slices this
  gives the 31.33M parameters of the AICT paper's SwinT-ChARM (Ghorbel et al. Table 4).
  """

  def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
               uncapped_in_channels: int | None = None, **kwargs):
    super().__init__(**kwargs)
    self.in_channels = int(in_channels)
    self.out_channels = int(out_channels)
    self.kernel_size = int(kernel_size)
    self.uncapped_in_channels = int(uncapped_in_channels or in_channels)
    w0, w1 = charm_widths(self.uncapped_in_channels, self.out_channels)
    k = (self.kernel_size, self.kernel_size)
    conv = lambda c, name, act=None: tfc.SignalConv2D(  # noqa: E731
        c, k, corr=False, padding="same_zeros", use_bias=True, kernel_parameter="variable",
        activation=act, name=name)
    self.layers_ = [conv(w0, "conv0", tf.nn.relu), conv(w1, "conv1", tf.nn.relu),
                    conv(self.out_channels, "conv2")]

  def call(self, x: tf.Tensor) -> tf.Tensor:
    for layer in self.layers_:
      x = layer(x)
    return x

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "in_channels": self.in_channels,
            "out_channels": self.out_channels, "kernel_size": self.kernel_size,
            "uncapped_in_channels": self.uncapped_in_channels}
