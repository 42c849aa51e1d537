"""Swin-Transformer transforms of SwinT-Hyperprior / SwinT-ChARM (Zhu et al. 2022, sec. 3.1,
Fig. 2 and 13, App. A.2).

g_a is a stack of (PatchMerge -> Swin blocks) stages; g_s reverses it with
(Swin blocks -> PatchSplit) stages. h_a / h_s have the same shape with their own sizes. The
first merge (on pixels) and the last split (to pixels or entropy parameters) are plain linear
maps without LayerNorm.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from tfc_swin.configs import SwinTransform
from tfc_swin.layers import SwinStage
from tfc_swin.transforms.base import TRANSFORMS, Transforms
from tfc_swin.transforms.conv import conv_hyper_transforms


def _stages(channels, depths, resample, window_size, head_dim, layer_norm,
            relative_position_bias, shifted_windows, raw_index, fixed_window, factors):
  factors = factors or [2] * len(channels)
  return [SwinStage(c, d, resample, window_size=window_size, head_dim=head_dim,
                    layer_norm=layer_norm, relative_position_bias=relative_position_bias,
                    shifted_windows=shifted_windows, resample_norm=i != raw_index,
                    resample_bias=i == raw_index, fixed_window=fixed_window, factor=f,
                    name=f"stage{i}")
          for i, (c, d, f) in enumerate(zip(channels, depths, factors))]


def swin_analysis(channels: Sequence[int], depths: Sequence[int], window_size: int = 8,
                  head_dim: int = 32, layer_norm: bool = True,
                  relative_position_bias: bool = True, shifted_windows: bool = True,
                  from_pixels: bool = True, plain_embedding: bool | None = None,
                  fixed_window: bool = False, factors: Sequence[int] = (),
                  name: str = "g_a") -> tf.keras.Sequential:
  """Encoder: stage i merges (by ``factors[i]``, default 2) to ``channels[i]`` then runs
  ``depths[i]`` blocks.

  With ``from_pixels`` the input is RGB in [0, 255] (g_a). ``plain_embedding`` (default:
  ``from_pixels``) makes the first merge a linear patch embedding with bias and without
  LayerNorm; otherwise it is a normal PatchMerge (LayerNorm over the merged features).
  """
  plain = from_pixels if plain_embedding is None else plain_embedding
  stages = _stages(channels, depths, "merge", window_size, head_dim, layer_norm,
                   relative_position_bias, shifted_windows, 0 if plain else -1, fixed_window,
                   factors)
  head = [tf.keras.layers.Rescaling(1 / 255)] if from_pixels else []
  return tf.keras.Sequential(head + stages, name=name)


def swin_synthesis(channels: Sequence[int], depths: Sequence[int], out_channels: int,
                   window_size: int = 8, head_dim: int = 32, layer_norm: bool = True,
                   relative_position_bias: bool = True, shifted_windows: bool = True,
                   to_pixels: bool = True, fixed_window: bool = False,
                   factors: Sequence[int] = (), name: str = "g_s") -> tf.keras.Sequential:
  """Decoder: stage i runs ``depths[i]`` blocks then splits (by ``factors[i]``, default 2)
  to the next size.

  ``channels`` lists the stage sizes from the latent side; the last stage splits to
  ``out_channels`` with a plain linear map (RGB scaled to [0, 255] when ``to_pixels``).
  """
  targets = list(channels[1:]) + [out_channels]
  stages = _stages(targets, depths, "split", window_size, head_dim, layer_norm,
                   relative_position_bias, shifted_windows, len(targets) - 1, fixed_window,
                   factors)
  tail = [tf.keras.layers.Rescaling(255)] if to_pixels else []
  return tf.keras.Sequential(stages + tail, name=name)


@TRANSFORMS.register(SwinTransform.kind)
def swin_transforms(config: SwinTransform, params_channels: int) -> Transforms:
  """SwinT g_a / h_a from the config's stages; g_s / h_s mirror them (Fig. 2 and 13). With
  ``conv_hyper`` h_a / h_s are the conv ones (SwinT-SSF, sec. 3.2)."""
  common = dict(head_dim=config.head_dim, layer_norm=config.layer_norm,
                relative_position_bias=config.relative_position_bias,
                shifted_windows=config.shifted_windows, fixed_window=config.fixed_windows)
  a, d = [s.channels for s in config.analysis], [s.depth for s in config.analysis]
  f = [s.downsample for s in config.analysis]
  g_a = swin_analysis(a, d, config.window, factors=f, **common)
  g_s = swin_synthesis(a[::-1], d[::-1], config.out_channels, config.window,
                       factors=f[::-1], **common)
  if config.conv_hyper:
    return Transforms(g_a, g_s, *conv_hyper_transforms(config.conv_hyper, params_channels))
  h, hd = [s.channels for s in config.hyper], [s.depth for s in config.hyper]
  hf = [s.downsample for s in config.hyper]
  return Transforms(
      g_a, g_s,
      swin_analysis(h, hd, config.hyper_window, from_pixels=False, factors=hf,
                    plain_embedding=config.hyper_plain_embedding, name="h_a", **common),
      swin_synthesis(h[::-1], hd[::-1], params_channels, config.hyper_window, to_pixels=False,
                     factors=hf[::-1], name="h_s", **common))
