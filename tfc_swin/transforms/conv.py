"""Convolutional transforms of Conv-Hyperprior / Conv-ChARM (Zhu et al. 2022, App. A.1, Fig. 10-11).

The Ballé et al. 2018 / Minnen et al. 2018 layout: four 5x5 stride-2 convolutions with GDN in
g_a (inverse GDN in g_s); h_a = 3x3, 5x5/2, 5x5/2 with ReLU; h_s mirrors h_a and outputs the
mean and scale parameters (2 x latent channels). Channels follow the paper's (C1..C7).
"""
from __future__ import annotations

import functools
from typing import Sequence

import tensorflow as tf
import tensorflow_compression as tfc

from tfc_swin.configs import ConvTransform
from tfc_swin.transforms.base import TRANSFORMS, Transforms

_conv = functools.partial(tfc.SignalConv2D, padding="same_zeros", use_bias=True,
                          kernel_parameter="variable")


def conv_analysis(channels: Sequence[int], name: str = "g_a") -> tf.keras.Sequential:
  """g_a: 5x5/2 convolutions to ``channels`` (last = latent channels), GDN in between."""
  layers = [_conv(c, (5, 5), corr=True, strides_down=2, name=f"conv{i}",
                  activation=tfc.GDN(name=f"gdn{i}") if i < len(channels) - 1 else None)
            for i, c in enumerate(channels)]
  return tf.keras.Sequential([tf.keras.layers.Rescaling(1 / 255)] + layers, name=name)


def conv_synthesis(channels: Sequence[int], out_channels: int = 3,
                   name: str = "g_s") -> tf.keras.Sequential:
  """g_s: 5x5 x2-upsampling convolutions through ``channels`` then to ``out_channels``
  (RGB), inverse GDN."""
  layers = [_conv(c, (5, 5), corr=False, strides_up=2, name=f"conv{i}",
                  activation=tfc.GDN(inverse=True, name=f"igdn{i}"))
            for i, c in enumerate(channels)]
  layers.append(_conv(out_channels, (5, 5), corr=False, strides_up=2,
                      name=f"conv{len(channels)}"))
  return tf.keras.Sequential(layers + [tf.keras.layers.Rescaling(255)], name=name)


def conv_hyper_analysis(channels: Sequence[int], name: str = "h_a") -> tf.keras.Sequential:
  """h_a: 3x3/1, 5x5/2, 5x5/2 convolutions with ReLU in between (``channels`` = C5, C6, C7)."""
  c5, c6, c7 = channels
  return tf.keras.Sequential([
      _conv(c5, (3, 3), corr=True, name="conv0", activation=tf.nn.relu),
      _conv(c6, (5, 5), corr=True, strides_down=2, name="conv1", activation=tf.nn.relu),
      _conv(c7, (5, 5), corr=True, strides_down=2, name="conv2"),
  ], name=name)


def conv_hyper_synthesis(channels: Sequence[int], out_channels: int,
                         name: str = "h_s") -> tf.keras.Sequential:
  """h_s: 5x5 x2, 5x5 x2, 3x3 convolutions (``channels`` = C6, C5) to ``out_channels``."""
  c6, c5 = channels
  return tf.keras.Sequential([
      _conv(c6, (5, 5), corr=False, strides_up=2, name="conv0", activation=tf.nn.relu),
      _conv(c5, (5, 5), corr=False, strides_up=2, name="conv1", activation=tf.nn.relu),
      _conv(out_channels, (3, 3), corr=False, name="conv2"),
  ], name=name)


def conv_hyper_transforms(hyper: Sequence[int], params_channels: int
                          ) -> tuple[tf.keras.Sequential, tf.keras.Sequential]:
  """(h_a, h_s) for hyper widths (C5, C6, C7); h_s mirrors h_a to ``params_channels``."""
  return conv_hyper_analysis(hyper), conv_hyper_synthesis(hyper[1::-1], params_channels)


@TRANSFORMS.register(ConvTransform.kind)
def conv_transforms(config: ConvTransform, params_channels: int) -> Transforms:
  """The conv g_a, g_s (mirrored widths), h_a and h_s (to ``params_channels``)."""
  a = config.analysis
  return Transforms(conv_analysis(a), conv_synthesis(a[::-1][1:], config.out_channels),
                    *conv_hyper_transforms(config.hyper, params_channels))
