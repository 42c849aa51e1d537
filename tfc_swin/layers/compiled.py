"""LayerNorm and GELU as small XLA clusters, for training steps (issue 16).

Elementwise passes dominate the training step of the small Swin configs: in a profile of one
swint-hyperprior-cpu step (batch 8, 128x128), the Mul, Sub, AddV2, Erf and Square kernels of
LayerNorm and GELU and of their gradients take about as long as all the matmuls. Inside
:func:`compiled_elementwise`, :class:`~tfc_swin.layers.swin.LayerNorm` and the Swin MLP's GELU
trace as ``jit_compile`` functions: XLA fuses each one, and its gradient, into a single loop
over the tensor, while the matmuls around them stay with TF's (oneDNN) kernels.

The results equal the plain ops up to float rounding. The trainer traces its step inside it
with ``--xla_elementwise`` (:meth:`tfc_swin.training.trainer.Trainer._train_step_fn`;
1.19x faster steps for swint-hyperprior-cpu, none with fixed windows); a codec with
``fused_elementwise`` (off by default) traces g_a and g_s inside it for coding
(:func:`coding_elementwise`, :meth:`tfc_swin.codecs.image.ImageCodec.analysis` and
``synthesis``), so its compress / decompress functions and exports run them fused (issue 16,
docs/complexity.md). Validation and ``__call__`` keep the plain ops. Float64 computation (h_s
and ChARM at coding time), which derives the scale indexes, never takes this path: a file
decodes the same whichever way its encoder or decoder ran g_a / g_s; y may differ by float
rounding (so a latent at a rounding boundary may code differently) and decoded pixels by one
level at most where the float output sits at a rounding boundary.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Any, Iterator

import tensorflow as tf

_ENABLED = contextvars.ContextVar("compiled_elementwise", default=False)


@contextlib.contextmanager
def compiled_elementwise() -> Iterator[None]:
  """Layers *traced* inside use the XLA-compiled LayerNorm and GELU (float32 inputs only)."""
  token = _ENABLED.set(True)
  try:
    yield
  finally:
    _ENABLED.reset(token)


#: ``0`` / ``1``: trace the coding functions of every codec without / with the fused ops,
#: whatever the codec says (for A/B timing, or exports for runtimes without XLA).
CODING_ENV = "TFC_SWIN_XLA_CODING"


def coding_fused(enabled: bool) -> bool:
  """Whether coding functions traced now fuse: ``enabled`` (a codec's ``fused_elementwise``)
  unless :data:`CODING_ENV` says otherwise."""
  forced = os.environ.get(CODING_ENV, "")
  if forced not in ("", "0", "1"):
    raise ValueError(f"{CODING_ENV} must be 0 or 1, got {forced!r}")
  return forced == "1" if forced else bool(enabled)


def coding_elementwise(enabled: bool) -> contextlib.AbstractContextManager:
  """The context a codec traces g_a and g_s in for coding: :func:`compiled_elementwise` if
  :func:`coding_fused`."""
  return compiled_elementwise() if coding_fused(enabled) else contextlib.nullcontext()


def use_compiled(x: tf.Tensor) -> bool:
  """True inside :func:`compiled_elementwise` for a float32 tensor."""
  return _ENABLED.get() and x.dtype == tf.float32


@tf.function(jit_compile=True)
def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float,
               dtype: tf.DType | None = None) -> tf.Tensor:
  """LayerNorm over the last axis: ``(x - mean) / sqrt(var + epsilon) * gamma + beta``, cast
  to ``dtype`` (bfloat16 when a bfloat16 matmul reads it) if given."""
  mean, variance = tf.nn.moments(x, [-1], keepdims=True)
  out = (x - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta
  return out if dtype is None else tf.cast(out, dtype)


def _bias_activation(product: tf.Tensor, bias: tf.Tensor | None, activation: Any,
                     dtype: tf.DType) -> tf.Tensor:
  out = tf.cast(product, tf.float32)
  if bias is not None:
    out = tf.nn.bias_add(out, bias)
  if activation is not None:
    out = activation(out)
  return tf.cast(out, dtype)


_compiled_bias_activation = tf.function(_bias_activation, jit_compile=True)


def bias_activation(product: tf.Tensor, bias: tf.Tensor | None, activation: Any,
                    dtype: tf.DType) -> tf.Tensor:
  """The end of a bfloat16 matmul (:class:`tfc_swin.layers.precision.Linear`): float32
  ``product`` + ``bias``, then ``activation`` (either may be None), cast to ``dtype``. Inside
  :func:`compiled_elementwise` one XLA kernel, else plain ops."""
  fn = _compiled_bias_activation if _ENABLED.get() else _bias_activation
  return fn(product, bias, activation, dtype)


@tf.function(jit_compile=True)
def _compiled_gelu(x: tf.Tensor) -> tf.Tensor:
  return tf.nn.gelu(x, approximate=False)


def gelu(x: tf.Tensor) -> tf.Tensor:
  """Exact (erf) GELU, as Keras' ``"gelu"`` activation; compiled inside
  :func:`compiled_elementwise`."""
  if use_compiled(x):
    return _compiled_gelu(x)
  return tf.keras.activations.gelu(x)
