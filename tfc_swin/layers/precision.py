"""Float64 computation with float32 weights, for the layers that derive the integer scale
indexes of the range coder (h_s and the ChARM slice networks).

Float32 kernels differ between CPUs (AVX2 / AVX-512), oneDNN on or off, thread counts, GPUs
and TF builds by a few ulps. A scale index near an integer boundary then lands on different
sides in the encoder and the decoder, and the file cannot be decoded. The same networks
computed in float64 (weights stay float32, so checkpoints and SavedModels do not grow) and
rounded to float32 at their output make such a crossing rare: the float64 differences between
machines (~1e-16 relative) must straddle a float32 rounding boundary (~6e-8 relative).
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import tensorflow as tf


class Float64Compute(tf.keras.mixed_precision.Policy):
  """Dtype policy: float32 variables, float64 computation (layers cast their inputs and read
  their weights as float64, like Keras' mixed precision does for float16)."""

  def __init__(self):
    super().__init__("float32")
    self._compute_dtype = "float64"  # Keras 2.14 only parses float16/bfloat16 mixed names.


_ENABLED = contextvars.ContextVar("float64_entropy_parameters", default=True)


@contextlib.contextmanager
def float32_entropy_parameters() -> Iterator[None]:
  """Codecs built inside compute h_s / ChARM in float32, as fast as the rest: for training.
  The weights are the same; exported and coding codecs use float64 (the default)."""
  token = _ENABLED.set(False)
  try:
    yield
  finally:
    _ENABLED.reset(token)


@contextlib.contextmanager
def float64_compute() -> Iterator[None]:
  """Layers constructed *and built* inside compute in float64 (sublayers made in ``build``
  included), unless inside :func:`float32_entropy_parameters`."""
  if not _ENABLED.get():
    yield
    return
  old = tf.keras.mixed_precision.global_policy()
  tf.keras.mixed_precision.set_global_policy(Float64Compute())
  try:
    yield
  finally:
    tf.keras.mixed_precision.set_global_policy(old)
