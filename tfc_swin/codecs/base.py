"""What every codec module shares: the canvas geometry (sides padded to multiples of 64), the
tensor specs of the coding signatures, the index checksum, and :class:`CodingModule` (coding
functions that exist only after ``prepare_for_compression``, exports, weight bookkeeping)."""
from __future__ import annotations

import hashlib
import re

import numpy as np
import tensorflow as tf

from tfc_swin.bitstream import CHECKSUM_MODULUS
from tfc_swin.configs import CodecConfig, VideoCodecConfig
from tfc_swin.priors import NotPreparedError

#: Total down-sampling of image -> hyper-latent; images are padded to a multiple of it.
PAD_MULTIPLE = 64

IMAGE_SPEC = tf.TensorSpec([None, None, 3], tf.uint8, name="image")
STRINGS_SPEC = tf.TensorSpec([None], tf.string, name="strings")
SHAPE_SPEC = tf.TensorSpec([2], tf.int32, name="shape")


def round_up(value: int | tf.Tensor, multiple: int) -> int | tf.Tensor:
  """The smallest multiple of ``multiple`` that is >= ``value`` (ints or int tensors)."""
  return (value + multiple - 1) // multiple * multiple


def pad_to_multiple(x: tf.Tensor, multiple: int = PAD_MULTIPLE) -> tf.Tensor:
  """Pads (B, H, W, C) at the bottom/right by repeating the edge pixels."""
  shape = tf.shape(x)
  h, w = shape[1], shape[2]
  x = tf.gather(x, tf.minimum(tf.range(round_up(h, multiple)), h - 1), axis=1)
  return tf.gather(x, tf.minimum(tf.range(round_up(w, multiple)), w - 1), axis=2)


def to_uint8(x: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
  """float (1, H', W', 3) canvas -> uint8 (H, W, 3) image: cropped, rounded, clipped."""
  return tf.cast(tf.clip_by_value(tf.round(x[0, :shape[0], :shape[1], :]), 0, 255), tf.uint8)


def index_checksum(indexes: list[tf.Tensor]) -> tf.Tensor:
  """Order-sensitive int64 checksum of the scale indexes the range coder used.

  Encoder and decoder must derive identical indexes from h_s / ChARM; the file carries the
  encoder's checksum so that the decoder can detect any float difference.
  """
  flat = tf.concat([tf.reshape(tf.cast(i, tf.int64), [-1]) for i in indexes], axis=0)
  weights = tf.range(tf.size(flat, out_type=tf.int64), dtype=tf.int64) % 65521 + 1
  return tf.reduce_sum((flat + 1) * weights) % CHECKSUM_MODULUS


def slice_checksums(indexes: list[tf.Tensor]) -> tf.Tensor:
  """int64 [S]: the :func:`index_checksum` of each latent slice's indexes (format version 2:
  the decoder can tell which slice drifted first)."""
  return tf.stack([index_checksum([i]) for i in indexes])


def count_parameters(module: tf.Module) -> int:
  """Trainable parameters of a module (a codec, one of its parts, or any Keras model)."""
  return int(sum(np.prod(v.shape) for v in module.trainable_variables))


def module_name(name: str) -> str:
  """A config name as a tf.Module name (variable scopes take no '-' or '/')."""
  return re.sub(r"\W", "_", name)


class CodingModule(tf.Module):
  """A codec's coding state. Each subclass's ``prepare_for_compression()`` builds its coding
  tables and tf.functions into ``_coding_functions``; until then :meth:`coding_functions`
  raises :class:`NotPreparedError`."""

  def __init__(self, config: CodecConfig | VideoCodecConfig):
    super().__init__(name=module_name(config.name))
    self.config = config
    self._coding_functions = None

  @property
  def prepared(self) -> bool:
    return self._coding_functions is not None

  def coding_functions(self) -> dict[str, tf.types.experimental.GenericFunction]:
    """The coding tf.functions by name (the SavedModel signatures)."""
    if self._coding_functions is None:
      raise NotPreparedError(f"{self.config.name}: call prepare_for_compression() before "
                             "coding or export (it builds the coding tables)")
    return self._coding_functions

  def serving_module(self) -> tf.Module:
    """What a SavedModel export saves: this codec's weights under ``codec`` and each coding
    function under its name (loaded SavedModels call them like the codec)."""
    module = tf.Module()
    module.codec = self
    for name, function in self.coding_functions().items():
      setattr(module, name, function)
    return module

  def count_parameters(self, module: tf.Module | None = None) -> int:
    """Trainable parameters of the codec (or of one of its parts)."""
    return count_parameters(self if module is None else module)

  def fingerprint(self) -> str:
    """sha256 (first 16 hex digits) over all trainable weights, in a fixed order."""
    digest = hashlib.sha256()
    for v in sorted(self.trainable_variables, key=lambda v: v.name):
      digest.update(v.name.encode())
      digest.update(np.ascontiguousarray(v.numpy(), dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]
