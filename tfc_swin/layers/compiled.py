"""LayerNorm and GELU as small XLA clusters, for training steps (issue 16).

Elementwise passes dominate the training step of the small Swin configs: in a profile of one
swint-hyperprior-cpu step (batch 8, 128x128), the Mul, Sub, AddV2, Erf and Square kernels of
LayerNorm and GELU and of their gradients take about as long as all the matmuls. Inside
:func:`compiled_elementwise`, :class:`~tfc_swin.layers.swin.LayerNorm` and the Swin MLP's GELU
trace as ``jit_compile`` functions: XLA fuses each one, and its gradient, into a single loop
over the tensor, while the matmuls around them stay with TF's (oneDNN) kernels.

The results equal the plain ops up to float rounding, so only the trainer traces inside it,
with ``--xla_elementwise`` (:meth:`tfc_swin.training.trainer.Trainer._train_step_fn`): coding
functions, exports and validation keep the plain ops, and the files of shipped models do not
change. Float64 computation (h_s and ChARM at coding time) never takes this path. Measured:
1.19x faster steps for swint-hyperprior-cpu, none with fixed windows (docs/complexity.md).
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

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


def use_compiled(x: tf.Tensor) -> bool:
  """True inside :func:`compiled_elementwise` for a float32 tensor."""
  return _ENABLED.get() and x.dtype == tf.float32


@tf.function(jit_compile=True)
def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float) -> tf.Tensor:
  """LayerNorm over the last axis: ``(x - mean) / sqrt(var + epsilon) * gamma + beta``."""
  mean, variance = tf.nn.moments(x, [-1], keepdims=True)
  return (x - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta


@tf.function(jit_compile=True)
def _compiled_gelu(x: tf.Tensor) -> tf.Tensor:
  return tf.nn.gelu(x, approximate=False)


def gelu(x: tf.Tensor) -> tf.Tensor:
  """Exact (erf) GELU, as Keras' ``"gelu"`` activation; compiled inside
  :func:`compiled_elementwise`."""
  if use_compiled(x):
    return _compiled_gelu(x)
  return tf.keras.activations.gelu(x)
