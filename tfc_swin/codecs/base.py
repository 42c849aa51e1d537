"""The hyperprior codec skeleton shared by every image codec (Zhu et al. 2022, sec. 2-3).

x -> g_a -> y -> h_a -> z;  z is coded with a learned factorized prior
(``tfc.ContinuousBatchedEntropyModel``); ``h_s(z_hat)`` parameterizes the latent prior
(mean-scale hyperprior or ChARM) that codes y with a Gaussian
(``tfc.LocationScaleIndexedEntropyModel``); ``x_hat = g_s(y_hat)``.

Subclasses only choose their transforms (:meth:`build_transforms`) and latent prior
(:meth:`build_prior`). Before :meth:`compress` / :meth:`decompress` (and before export) call
:meth:`prepare_for_compression`, which rebuilds the entropy models with range-coding tables
from the current weights.
"""
from __future__ import annotations

import abc
import hashlib
import re
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from tfc_swin.configs import CodecConfig
from tfc_swin.priors import GaussianConditional

#: Total down-sampling of image -> hyper-latent; images are padded to a multiple of it.
PAD_MULTIPLE = 64


def pad_to_multiple(x: tf.Tensor, multiple: int = PAD_MULTIPLE) -> tf.Tensor:
  """Pads (B, H, W, C) at the bottom/right by repeating the edge pixels."""
  shape = tf.shape(x)
  h, w = shape[1], shape[2]
  hp = (h + multiple - 1) // multiple * multiple
  wp = (w + multiple - 1) // multiple * multiple
  x = tf.gather(x, tf.minimum(tf.range(hp), h - 1), axis=1)
  return tf.gather(x, tf.minimum(tf.range(wp), w - 1), axis=2)


def index_checksum(indexes: list[tf.Tensor]) -> tf.Tensor:
  """Order-sensitive int64 checksum of the scale indexes the range coder used.

  Encoder and decoder must derive identical indexes from h_s / ChARM; the file carries the
  encoder's checksum so that the decoder can detect any float difference.
  """
  flat = tf.concat([tf.reshape(tf.cast(i, tf.int64), [-1]) for i in indexes], axis=0)
  weights = tf.range(tf.size(flat, out_type=tf.int64), dtype=tf.int64) % 65521 + 1
  return tf.reduce_sum((flat + 1) * weights) % (2 ** 31 - 1)


def _module_name(name: str) -> str:
  return re.sub(r"\W", "_", name)


class ImageCodec(tf.Module, metaclass=abc.ABCMeta):
  """Base of the four image codecs: shared forward pass, compress and decompress."""

  family: str = ""

  def __init__(self, config: CodecConfig):
    if config.family != self.family:
      raise ValueError(f"config {config.name!r} is a {config.family}, not a {self.family}")
    super().__init__(name=_module_name(config.name))
    self.config = config
    self.g_a, self.g_s, self.h_a, self.h_s = self.build_transforms(config)
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=[config.hyper_channels])
    self.prior = self.build_prior(config)
    self(tf.zeros([1, PAD_MULTIPLE, PAD_MULTIPLE, 3]))  # Creates all variables.

  # -- what subclasses choose ---------------------------------------------------------------
  @abc.abstractmethod
  def build_transforms(self, config: CodecConfig) -> tuple[Any, Any, Any, Any]:
    """Returns (g_a, g_s, h_a, h_s); h_s outputs 2 x latent channels (mean, scale index)."""

  @abc.abstractmethod
  def build_prior(self, config: CodecConfig) -> GaussianConditional:
    """Returns the latent prior that h_s parameterizes."""

  # -- training ---------------------------------------------------------------------------------
  def hyper_model(self, compression: bool = False) -> tfc.ContinuousBatchedEntropyModel:
    return tfc.ContinuousBatchedEntropyModel(self.hyperprior, coding_rank=3,
                                             compression=compression, offset_heuristic=False)

  def __call__(self, x: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
    """Forward pass on float RGB in [0, 255], sides multiples of 64.

    Returns ``x_hat`` (float, unclipped), ``bits`` (per image, y and z), ``bpp`` and ``mse``
    (per image, on the [0, 255] scale). With ``training`` the rate uses additive uniform noise;
    the decoder always sees rounded latents (mixed quantization, App. B.1).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    y = self.g_a(x)
    z = self.h_a(y)
    em_z = self.hyper_model()
    _, z_bits = em_z(z, training=training)
    params = self.h_s(em_z.quantize(z))
    y_hat, y_bits = self.prior.forward(y, params, training)
    x_hat = self.g_s(y_hat)
    num_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:3]), tf.float32)
    bits = y_bits + z_bits
    mse = tf.reduce_mean(tf.math.squared_difference(x, x_hat), axis=[1, 2, 3])
    return {"x_hat": x_hat, "bits": bits, "bpp": bits / num_pixels, "mse": mse,
            "y_bits": y_bits, "z_bits": z_bits}

  # -- coding -----------------------------------------------------------------------------------
  @property
  def num_strings(self) -> int:
    """Entropy-coded strings per image: one for z, then the prior's."""
    return 1 + self.prior.num_strings

  def prepare_for_compression(self) -> None:
    """(Re)builds the range-coding tables from the current weights and traces the coders."""
    self.em_z = self.hyper_model(compression=True)
    self.em_y = self.prior.entropy_model(compression=True)
    self.compress = tf.function(self._compress, input_signature=[
        tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    self.decompress = tf.function(self._decompress, input_signature=[
        tf.TensorSpec([None], tf.string, name="strings"),
        tf.TensorSpec([2], tf.int32, name="shape")])

  def _compress(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
    """uint8 (H, W, 3) -> entropy-coded ``strings`` [z, y...], ``shape``, ``index_checksum``."""
    shape = tf.shape(image)[:2]
    x = pad_to_multiple(tf.cast(image[None], tf.float32))
    y = self.g_a(x)
    z = self.h_a(y)
    z_string = self.em_z.compress(z)
    z_hat = self.em_z.decompress(z_string, tf.shape(z)[1:3])
    y_strings, indexes = self.prior.compress(y, self.h_s(z_hat), self.em_y)
    strings = tf.concat([z_string] + y_strings, axis=0)
    return {"strings": strings, "shape": shape, "index_checksum": index_checksum(indexes)}

  def _decompress(self, strings: tf.Tensor, shape: tf.Tensor) -> dict[str, tf.Tensor]:
    """Inverse of compress: uint8 ``image`` of ``shape`` and the decoder's ``index_checksum``."""
    padded = (shape + PAD_MULTIPLE - 1) // PAD_MULTIPLE * PAD_MULTIPLE
    z_shape = padded // PAD_MULTIPLE
    z_hat = self.em_z.decompress(strings[:1], z_shape)
    y_strings = [strings[i:i + 1] for i in range(1, self.num_strings)]
    y_hat, indexes = self.prior.decompress(y_strings, self.h_s(z_hat), self.em_y)
    x_hat = self.g_s(y_hat)[0, :shape[0], :shape[1], :]
    image = tf.cast(tf.clip_by_value(tf.round(x_hat), 0, 255), tf.uint8)
    return {"image": image, "index_checksum": index_checksum(indexes)}

  # -- bookkeeping ------------------------------------------------------------------------------
  def count_parameters(self, module: tf.Module | None = None) -> int:
    """Trainable parameters of the codec (or of one of its parts)."""
    module = self if module is None else module
    return int(sum(np.prod(v.shape) for v in module.trainable_variables))

  def fingerprint(self) -> str:
    """sha256 (first 16 hex digits) over all trainable weights, in a fixed order."""
    digest = hashlib.sha256()
    for v in sorted(self.trainable_variables, key=lambda v: v.name):
      digest.update(v.name.encode())
      digest.update(np.ascontiguousarray(v.numpy(), dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]
