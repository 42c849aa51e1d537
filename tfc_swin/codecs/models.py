"""The four image codecs of Zhu et al. 2022: Conv / SwinT transforms x hyperprior / ChARM prior."""
from __future__ import annotations

from tfc_swin import transforms
from tfc_swin.codecs.base import ImageCodec
from tfc_swin.configs import CodecConfig, get_config
from tfc_swin.priors import ChannelARPrior, MeanScaleHyperprior


class _ConvTransforms:
  """Conv g_a / g_s / h_a / h_s (App. A.1, Fig. 10-11)."""

  def build_transforms(self, config: CodecConfig):
    a = config.analysis
    return (transforms.conv_analysis(a),
            transforms.conv_synthesis(a[::-1][1:]),
            transforms.conv_hyper_analysis(config.hyper),
            transforms.conv_hyper_synthesis(config.hyper[1::-1], 2 * config.latent_channels))


class _SwinTransforms:
  """SwinT g_a / g_s / h_a / h_s (sec. 3.1, Fig. 2 and 13, App. A.2)."""

  def build_transforms(self, config: CodecConfig):
    a, h, d = config.analysis, config.hyper, config.depths
    wg, wh = config.windows
    common = dict(head_dim=config.head_dim, relative_position_bias=config.relative_position_bias,
                  shifted_windows=config.shifted_windows, fixed_window=config.fixed_windows)
    return (transforms.swin_analysis(a, d[:4], wg, **common),
            transforms.swin_synthesis(a[::-1], d[3::-1], 3, wg, **common),
            transforms.swin_analysis(h, d[4:6], wh, from_pixels=False,
                                     plain_embedding=config.hyper_plain_embedding, name="h_a", **common),
            transforms.swin_synthesis(h[::-1], d[5:3:-1], 2 * config.latent_channels, wh,
                                      to_pixels=False, name="h_s", **common))


class _Hyperprior:

  def build_prior(self, config: CodecConfig):
    return MeanScaleHyperprior(config.latent_channels, num_scales=config.num_scales,
                               name="prior")


class _ChARM:

  def build_prior(self, config: CodecConfig):
    return ChannelARPrior(config.latent_channels, num_slices=config.num_slices,
                          slice_transform=config.slice_transform,
                          num_scales=config.num_scales, name="prior")


class ConvHyperprior(_ConvTransforms, _Hyperprior, ImageCodec):
  """Conv-Hyperprior: GDN ConvNet transforms, mean-scale hyperprior (Minnen et al. 2018)."""
  family = "ConvHyperprior"


class ConvChARM(_ConvTransforms, _ChARM, ImageCodec):
  """Conv-ChARM: GDN ConvNet transforms, channel-wise autoregressive prior (Minnen & Singh 2020)."""
  family = "ConvChARM"


class SwinTHyperprior(_SwinTransforms, _Hyperprior, ImageCodec):
  """SwinT-Hyperprior: Swin-Transformer transforms, mean-scale hyperprior (Zhu et al. Fig. 13)."""
  family = "SwinTHyperprior"


class SwinTChARM(_SwinTransforms, _ChARM, ImageCodec):
  """SwinT-ChARM: Swin-Transformer transforms, ChARM prior (Zhu et al. Fig. 2)."""
  family = "SwinTChARM"


CODEC_CLASSES = {cls.family: cls for cls in (ConvHyperprior, ConvChARM, SwinTHyperprior,
                                             SwinTChARM)}


def build_codec(config: CodecConfig | str) -> ImageCodec:
  """Builds the codec for a config (or registered config name), with fresh weights."""
  if isinstance(config, str):
    config = get_config(config)
  return CODEC_CLASSES[config.family](config)
