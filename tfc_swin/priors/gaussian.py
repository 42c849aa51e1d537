"""Conditional Gaussian priors for the latent y (Zhu et al. 2022, sec. 2, App. A.1 Fig. 10-12).

Both priors read the hyper-decoder output ``params = h_s(z_hat)`` (mean and scale, one each per
latent channel) and code y with a ``tfc.LocationScaleIndexedEntropyModel`` over a Gaussian.
Scales are predicted as continuous indexes into a log-spaced scale table, as in TFC's ms2020.

Training uses the paper's mixed quantization (App. B.1): the rate is measured on y plus
uniform noise, the decoder sees ``round(y - mu) + mu`` with a straight-through gradient.

Each prior owns its range-coding tables: :meth:`GaussianConditional.prepare_for_compression`
builds them from the current weights; ``compress`` / ``decompress`` need them.
"""
from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf
import tensorflow_compression as tfc

from tfc_swin.configs import ChARM, Hyperprior
from tfc_swin.layers.precision import float64_compute
from tfc_swin.priors.base import PRIORS
from tfc_swin.priors.slice_transforms import build_slice_transform


#: One range-coded part of y: (values, mean, continuous scale index), all of one shape.
CodingPart = tuple[tf.Tensor, tf.Tensor, tf.Tensor]


class NotPreparedError(RuntimeError):
  """Range coding was asked of a model whose coding tables were never built."""


class GaussianConditional(tf.Module):
  """Shared scale table, entropy model and index quantization of the latent priors."""

  def __init__(self, latent_channels: int, num_scales: int = 64, scale_min: float = 0.11,
               scale_max: float = 256.0, name: str | None = None):
    super().__init__(name=name)
    self.latent_channels = int(latent_channels)
    self.num_scales = int(num_scales)
    self.scale_min = float(scale_min)
    self.scale_max = float(scale_max)
    self.coder = None

  def prepare_for_compression(self) -> None:
    """(Re)builds the range-coding tables of ``coder`` from the current weights."""
    self.coder = self.entropy_model(compression=True)

  def _coder(self) -> tfc.LocationScaleIndexedEntropyModel:
    if self.coder is None:
      raise NotPreparedError(f"{self.name}: call prepare_for_compression() before range "
                             "coding (it builds the coding tables from the weights)")
    return self.coder

  def scale_fn(self, index: tf.Tensor) -> tf.Tensor:
    offset = tf.math.log(self.scale_min)
    factor = (tf.math.log(self.scale_max) - offset) / (self.num_scales - 1.0)
    return tf.math.exp(offset + factor * index)

  def entropy_model(self, compression: bool) -> tfc.LocationScaleIndexedEntropyModel:
    return tfc.LocationScaleIndexedEntropyModel(
        tfc.NoisyNormal, num_scales=self.num_scales, scale_fn=self.scale_fn, coding_rank=3,
        compression=compression)

  def range_encode(self, parts: Sequence[CodingPart]) -> list[tf.Tensor]:
    """Range coding alone: one string per part of :meth:`coding_parameters`."""
    coder = self._coder()
    return [coder.compress(y, sigma, loc=mu) for y, mu, sigma in parts]

  def range_decode(self, strings: Sequence[tf.Tensor], parts: Sequence[CodingPart]
                   ) -> list[tf.Tensor]:
    """Range decoding alone, with the (mean, scale index) of each part known: what
    ``decompress`` spends besides the networks (only the parameters are read from ``parts``)."""
    coder = self._coder()
    return [coder.decompress(string, sigma, loc=mu)
            for string, (_, mu, sigma) in zip(strings, parts)]

  def quantized_indexes(self, indexes: tf.Tensor) -> tf.Tensor:
    """The integer scale indexes the range coder uses (for the encoder/decoder check).

    Exactly what ``tfc.LocationScaleIndexedEntropyModel`` does before range coding
    (``_normalize_indexes`` + ``_flatten_indexes``): clip with ``tf.maximum(x, 0)`` then
    ``tf.minimum(x, num_scales - 1)``, then cast to int32, which truncates (no rounding).
    """
    indexes = tf.maximum(indexes, tf.constant(0, indexes.dtype))
    indexes = tf.minimum(indexes, tf.constant(self.num_scales - 1, indexes.dtype))
    return tf.cast(indexes, tf.int32)


class MeanScaleHyperprior(GaussianConditional):
  """p(y | z) = N(mu, sigma) with (mu, sigma) = h_s(z_hat): the mean-scale hyperprior."""

  def forward(self, y: tf.Tensor, params: tf.Tensor, training: bool
              ) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns (y_hat for g_s, bits per image)."""
    mean, index = tf.split(params, 2, axis=-1)
    em = self.entropy_model(compression=False)
    _, bits = em(y, index, loc=mean, training=training)
    return em.quantize(y, loc=mean), bits

  def coding_parameters(self, y: tf.Tensor, params: tf.Tensor) -> list[CodingPart]:
    """[(y, mean, scale index)]: one part, read from ``params = h_s(z_hat)``."""
    mean, index = tf.split(params, 2, axis=-1)
    return [(y, mean, index)]

  def compress(self, y: tf.Tensor, params: tf.Tensor
               ) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
    """(strings, integer scale indexes) of y given ``params = h_s(z_hat)``."""
    parts = self.coding_parameters(y, params)
    return self.range_encode(parts), [self.quantized_indexes(p[2]) for p in parts]

  def decompress(self, strings: Sequence[tf.Tensor], params: tf.Tensor
                 ) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """(y_hat, integer scale indexes) from the strings of :meth:`compress`."""
    mean, index = tf.split(params, 2, axis=-1)
    return (self._coder().decompress(strings[0], index, loc=mean),
            [self.quantized_indexes(index)])

  @property
  def num_strings(self) -> int:
    return 1


class ChannelARPrior(GaussianConditional):
  """Channel-wise autoregressive prior, ChARM (Minnen & Singh 2020; Zhu et al. Fig. 12).

  y is split into ``num_slices`` channel groups. For slice s, a mean network reads the hyper
  mean of that slice plus all previously decoded slices; a separate scale network reads the
  hyper scale slice plus the same previous slices. ``slice_transform`` names the network kind
  (see :mod:`tfc_swin.priors.slice_transforms`); there is no latent residual prediction.
  ``max_support`` caps the previous slices read to the latest ones (5 in Ghorbel et al. 2023,
  Fig. 4); None reads all of them (Zhu et al.).
  """

  def __init__(self, latent_channels: int, num_slices: int = 10,
               slice_transform: str = "conv", slice_transform_args: dict | None = None,
               max_support: int | None = None, **kwargs):
    super().__init__(latent_channels, **kwargs)
    if latent_channels % num_slices:
      raise ValueError(f"{num_slices} slices do not divide {latent_channels} latent channels")
    self.num_slices = int(num_slices)
    self.slice_depth = latent_channels // num_slices
    self.max_support = num_slices if max_support is None else int(max_support)
    args = dict(slice_transform_args or {})
    make: Callable[[str, int], tf.keras.layers.Layer] = (
        lambda kind, s: build_slice_transform(
            slice_transform, (self._support(s) + 1) * self.slice_depth, self.slice_depth,
            uncapped_in_channels=(s + 1) * self.slice_depth, name=f"{kind}{s}", **args))
    with float64_compute():  # Exact scale indexes across machines (layers/precision.py).
      self.mean_transforms = [make("mean", s) for s in range(num_slices)]
      self.scale_transforms = [make("scale", s) for s in range(num_slices)]
      for s, (mean, scale) in enumerate(zip(self.mean_transforms, self.scale_transforms)):
        support = tf.zeros([1, 1, 1, (self._support(s) + 1) * self.slice_depth])
        mean(support)
        scale(support)

  @property
  def num_strings(self) -> int:
    return self.num_slices

  def _support(self, s: int) -> int:
    """Number of previously decoded slices that slice ``s`` reads."""
    return min(s, self.max_support)

  def _slice_params(self, s: int, mean: tf.Tensor, index: tf.Tensor,
                    decoded: Sequence[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
    part = slice(s * self.slice_depth, (s + 1) * self.slice_depth)
    decoded = decoded[len(decoded) - self._support(s):]
    mu = self.mean_transforms[s](tf.concat([mean[..., part], *decoded], axis=-1))
    sigma = self.scale_transforms[s](tf.concat([index[..., part], *decoded], axis=-1))
    return tf.cast(mu, tf.float32), tf.cast(sigma, tf.float32)

  def forward(self, y: tf.Tensor, params: tf.Tensor, training: bool
              ) -> tuple[tf.Tensor, tf.Tensor]:
    mean, index = tf.split(params, 2, axis=-1)
    em = self.entropy_model(compression=False)
    decoded, bits = [], []
    for s, y_slice in enumerate(tf.split(y, self.num_slices, axis=-1)):
      mu, sigma = self._slice_params(s, mean, index, decoded)
      _, slice_bits = em(y_slice, sigma, loc=mu, training=training)
      bits.append(slice_bits)
      decoded.append(em.quantize(y_slice, loc=mu))
    return tf.concat(decoded, axis=-1), tf.add_n(bits)

  def coding_parameters(self, y: tf.Tensor, params: tf.Tensor) -> list[CodingPart]:
    """[(y slice, mean, scale index)] per slice, as the encoder derives them (each slice's
    networks read the rounded previous slices, which the encoder has without range coding)."""
    mean, index = tf.split(params, 2, axis=-1)
    decoded, parts = [], []
    for s, y_slice in enumerate(tf.split(y, self.num_slices, axis=-1)):
      mu, sigma = self._slice_params(s, mean, index, decoded)
      parts.append((y_slice, mu, sigma))
      decoded.append(tfc.round_st(y_slice, mu))  # what the range decoder returns
    return parts

  def compress(self, y: tf.Tensor, params: tf.Tensor
               ) -> tuple[list[tf.Tensor], list[tf.Tensor]]:
    """(one string per slice, integer scale indexes) of y given ``params = h_s(z_hat)``."""
    parts = self.coding_parameters(y, params)
    return self.range_encode(parts), [self.quantized_indexes(p[2]) for p in parts]

  def decompress(self, strings: Sequence[tf.Tensor], params: tf.Tensor
                 ) -> tuple[tf.Tensor, list[tf.Tensor]]:
    """(y_hat, integer scale indexes) from the strings of :meth:`compress`."""
    em = self._coder()
    mean, index = tf.split(params, 2, axis=-1)
    decoded, indexes = [], []
    for s in range(self.num_slices):
      mu, sigma = self._slice_params(s, mean, index, decoded)
      decoded.append(em.decompress(strings[s], sigma, loc=mu))
      indexes.append(self.quantized_indexes(sigma))
    return tf.concat(decoded, axis=-1), indexes


@PRIORS.register(Hyperprior.kind)
def mean_scale_hyperprior(config: Hyperprior, latent_channels: int) -> MeanScaleHyperprior:
  return MeanScaleHyperprior(latent_channels, num_scales=config.num_scales, name="prior")


@PRIORS.register(ChARM.kind)
def channel_ar_prior(config: ChARM, latent_channels: int) -> ChannelARPrior:
  return ChannelARPrior(latent_channels, num_slices=config.num_slices,
                        slice_transform=config.slice_transform,
                        max_support=config.max_support, num_scales=config.num_scales,
                        name="prior")
