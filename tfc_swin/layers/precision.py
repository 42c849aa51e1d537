"""Computation precision: float64 with float32 weights for the layers that derive the integer
scale indexes of the range coder (h_s and the ChARM slice networks); optional bfloat16 matmuls
for g_a / g_s, which only shape y and the decoded image (:class:`Linear`).

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
from typing import Any, Iterable, Iterator

import tensorflow as tf

from tfc_swin.layers import compiled
from tfc_swin.layers.shapes import dims


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


def float64_enabled() -> bool:
  """Whether layers built now under :func:`float64_compute` compute in float64 (False inside
  :func:`float32_entropy_parameters`)."""
  return _ENABLED.get()


def set_compute_dtype(modules: Iterable[tf.Module], dtype: str) -> None:
  """Every Keras layer in ``modules`` (sublayers included) computes in ``dtype`` from its next
  trace on: "float64" (:class:`Float64Compute`) or "float32". Weights stay float32; switching
  to float64 needs layers built under :func:`float64_compute` (their weights are read through
  casting variables), which the caller checks."""
  if dtype not in ("float32", "float64"):
    raise ValueError(f"compute dtype {dtype!r}: use float32 or float64")
  policy = Float64Compute() if dtype == "float64" else tf.keras.mixed_precision.Policy(dtype)
  for module in modules:
    for layer in (module, *module.submodules):
      if isinstance(layer, tf.keras.layers.Layer):
        layer._set_dtype_policy(policy)  # pylint: disable=protected-access


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


_BFLOAT16 = contextvars.ContextVar("bfloat16_matmuls", default=False)


@contextlib.contextmanager
def bfloat16_matmuls(enabled: bool = True) -> Iterator[None]:
  """:class:`Linear` layers *traced* inside multiply in bfloat16 (issue 16: g_a / g_s for
  coding on CPUs with AVX512_BF16 or AMX, and GPUs). ``enabled=False`` changes nothing."""
  token = _BFLOAT16.set(bool(enabled) or _BFLOAT16.get())
  try:
    yield
  finally:
    _BFLOAT16.reset(token)


def matmul_input_dtype() -> tf.DType | None:
  """bfloat16 while tracing inside :func:`bfloat16_matmuls` (LayerNorms that feed a
  :class:`Linear` then write bfloat16), else None (keep the dtype)."""
  return tf.bfloat16 if _BFLOAT16.get() else None


class KeepsBFloat16Inputs:
  """Keras layer mixin: inside :func:`bfloat16_matmuls`, bfloat16 inputs are not autocast to
  the layer's float32 compute dtype (they feed bfloat16 matmuls as they are)."""

  def _maybe_cast_inputs(self, inputs, input_list=None):  # Keras 2.14 Layer hook
    if _BFLOAT16.get() and all(getattr(t, "dtype", None) == tf.bfloat16
                               for t in tf.nest.flatten(inputs)):
      return inputs
    return super()._maybe_cast_inputs(inputs, input_list)


@tf.keras.utils.register_keras_serializable("tfc_swin")
class Linear(KeepsBFloat16Inputs, tf.keras.layers.Dense):
  """Keras ``Dense`` whose matmul may run in bfloat16: traced inside :func:`bfloat16_matmuls`
  with float32 or bfloat16 inputs, it multiplies bfloat16 copies of its input and kernel
  (float32 accumulation in oneDNN) and adds the bias and activation in float32
  (:func:`~tfc_swin.layers.compiled.bias_activation`, one XLA kernel when fused). It returns
  float32, or bfloat16 with ``bfloat16_output`` (when its readers are matmuls that would round
  it so anyway: the MLP's second map, the attention's q / k / v products). The residual stream,
  LayerNorm statistics and softmax stay float32; only matmul operands (and the attention
  logits) are rounded to bfloat16 (8 significant bits).
  ``bfloat16=False`` keeps a layer in float32 whatever the context (the maps from and to
  pixels, where that rounding would be a visible fraction of a grey level). Weights and
  checkpoints are those of ``Dense``."""

  def __init__(self, units: int, bfloat16: bool = True, bfloat16_output: bool = False,
               **kwargs):
    super().__init__(units, **kwargs)
    self.bfloat16 = bool(bfloat16)
    self.bfloat16_output = bool(bfloat16_output)

  def call(self, inputs: tf.Tensor) -> tf.Tensor:
    if not (self.bfloat16 and _BFLOAT16.get()
            and inputs.dtype in (tf.float32, tf.bfloat16)):
      return super().call(tf.cast(inputs, self.compute_dtype))
    sizes = dims(inputs)
    flat = tf.reshape(tf.cast(inputs, tf.bfloat16), [-1, inputs.shape[-1]])
    product = tf.matmul(flat, tf.cast(self.kernel, tf.bfloat16))
    outputs = compiled.bias_activation(product, self.bias if self.use_bias else None,
                                       self.activation,
                                       tf.bfloat16 if self.bfloat16_output else tf.float32)
    return tf.reshape(outputs, sizes[:-1] + [self.units])

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "bfloat16": self.bfloat16,
            "bfloat16_output": self.bfloat16_output}
