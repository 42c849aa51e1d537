"""LayerNorm, GELU and the attention softmax as small XLA clusters, for training steps (issue 16).

Elementwise passes dominate the training step of the small Swin configs: in a profile of one
swint-hyperprior-cpu step (batch 8, 128x128), the Mul, Sub, AddV2, Erf and Square kernels of
LayerNorm and GELU and of their gradients take about as long as all the matmuls. Inside
:func:`compiled_elementwise`, :class:`~tfc_swin.layers.swin.LayerNorm` and the Swin MLP's GELU
trace as ``jit_compile`` functions: XLA fuses each one, and its hand-written gradient, into a
single loop over the tensor, while the matmuls around them stay with TF's (oneDNN) kernels.
The gradients keep only each op's inputs, so a step needs less memory than with the plain ops;
with ``recompute_gelu`` the Swin MLP does not even keep its GELU output (:func:`gelu_linear`).
The fused softmax also applies the attention's query scale to its logits
(:func:`attention_weights`).

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
_RECOMPUTE_GELU = contextvars.ContextVar("recompute_gelu", default=False)


@contextlib.contextmanager
def compiled_elementwise(recompute_gelu: bool = False) -> Iterator[None]:
  """Layers *traced* inside use the XLA-compiled LayerNorm and GELU (float32 inputs only);
  with ``recompute_gelu``, bfloat16 Swin MLPs also compute their GELU again in the backward
  pass instead of keeping it (:func:`gelu_linear`)."""
  tokens = _ENABLED.set(True), _RECOMPUTE_GELU.set(bool(recompute_gelu))
  try:
    yield
  finally:
    _RECOMPUTE_GELU.reset(tokens[1])
    _ENABLED.reset(tokens[0])


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


# Each fused op has its own gradient, an XLA kernel too, that keeps only the op's inputs (and
# LayerNorm's per-token mean and 1/std): differentiating the compiled forward function instead
# would keep every intermediate of its body, full-size float32 tensors (1.7 GB more than the
# plain ops for swint-charm-cpu at batch 8 of 256x256; docs/complexity.md).
def _reduce_axes(x: tf.Tensor) -> list[int]:
  return list(range(x.shape.rank - 1))


@tf.function(jit_compile=True)
def _layer_norm_forward(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float,
                        dtype: tf.DType | None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  mean, variance = tf.nn.moments(x, [-1], keepdims=True)
  inv_std = tf.math.rsqrt(variance + epsilon)
  out = (x - mean) * inv_std * gamma + beta
  return (out if dtype is None else tf.cast(out, dtype)), mean, inv_std


@tf.function(jit_compile=True)
def _layer_norm_backward(grad: tf.Tensor, x: tf.Tensor, mean: tf.Tensor, inv_std: tf.Tensor,
                         gamma: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  grad = tf.cast(grad, tf.float32)
  normalized = (x - mean) * inv_std
  g = grad * gamma
  dx = inv_std * (g - tf.reduce_mean(g, -1, keepdims=True)
                  - normalized * tf.reduce_mean(g * normalized, -1, keepdims=True))
  axes = _reduce_axes(x)
  return dx, tf.reduce_sum(grad * normalized, axes), tf.reduce_sum(grad, axes)


def layer_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: float,
               dtype: tf.DType | None = None) -> tf.Tensor:
  """LayerNorm over the last axis: ``(x - mean) / sqrt(var + epsilon) * gamma + beta``, cast
  to ``dtype`` (bfloat16 when a bfloat16 matmul reads it) if given; one XLA kernel each way."""

  @tf.custom_gradient
  def normalize(x, gamma, beta):
    out, mean, inv_std = _layer_norm_forward(x, gamma, beta, epsilon, dtype)
    return out, lambda grad: _layer_norm_backward(grad, x, mean, inv_std, gamma)

  return normalize(x, tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta))


_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


@tf.function(jit_compile=True)
def _bias_gelu_forward(product: tf.Tensor, bias: tf.Tensor | None, dtype: tf.DType
                       ) -> tf.Tensor:
  u = tf.cast(product, tf.float32)
  if bias is not None:
    u = tf.nn.bias_add(u, bias)
  return tf.cast(tf.nn.gelu(u, approximate=False), dtype)


@tf.function(jit_compile=True)
def _bias_gelu_backward(grad: tf.Tensor, product: tf.Tensor, bias: tf.Tensor | None
                        ) -> list[tf.Tensor]:
  u = tf.cast(product, tf.float32)
  if bias is not None:
    u = tf.nn.bias_add(u, bias)
  du = tf.cast(grad, tf.float32) * (0.5 * (1.0 + tf.math.erf(u * _SQRT_HALF))
                                    + u * _INV_SQRT_2PI * tf.exp(-0.5 * u * u))
  grads = [tf.cast(du, product.dtype)]
  return grads if bias is None else grads + [tf.reduce_sum(du, _reduce_axes(du))]


def _fused_bias_gelu(product: tf.Tensor, bias: tf.Tensor | None, dtype: tf.DType) -> tf.Tensor:
  """``gelu(float32(product) + bias)`` cast to ``dtype``; the gradient keeps ``product``."""
  if bias is None:

    @tf.custom_gradient
    def unbiased(product):
      return (_bias_gelu_forward(product, None, dtype),
              lambda grad: _bias_gelu_backward(grad, product, None))

    return unbiased(product)

  @tf.custom_gradient
  def biased(product, bias):
    return (_bias_gelu_forward(product, bias, dtype),
            lambda grad: _bias_gelu_backward(grad, product, bias))

  return biased(product, tf.convert_to_tensor(bias))


def fuses_mlp(x: tf.Tensor) -> bool:
  """Whether a Swin MLP reading ``x`` runs through :func:`gelu_linear`: inside
  :func:`compiled_elementwise` with ``recompute_gelu``, for the bfloat16 input of bfloat16
  matmuls."""
  return _ENABLED.get() and _RECOMPUTE_GELU.get() and x.dtype == tf.bfloat16


def gelu_linear(product: tf.Tensor, bias: tf.Tensor, kernel: tf.Tensor, out_bias: tf.Tensor
                ) -> tf.Tensor:
  """The second half of a bfloat16 MLP: ``gelu(float32(product) + bias)`` in bfloat16 times
  ``kernel`` (as bfloat16) plus ``out_bias``, float32; ``product`` is the first matmul's
  (bfloat16, ``(tokens, hidden)``). The same values and gradients as the two
  :class:`~tfc_swin.layers.precision.Linear` ends, but the backward pass keeps only
  ``product`` and computes the GELU again (one more XLA elementwise pass) instead of keeping
  its output: a bfloat16 tensor of the hidden size per Swin block, about 1 GB of a paper-size
  training step (docs/complexity.md)."""

  @tf.custom_gradient
  def mlp_end(product, bias, kernel, out_bias):
    hidden = _bias_gelu_forward(product, bias, tf.bfloat16)
    weights = tf.cast(kernel, tf.bfloat16)
    out = _compiled_bias_activation(tf.matmul(hidden, weights), out_bias, None, tf.float32)

    def gradients(grad):
      grad_product = tf.cast(grad, tf.bfloat16)
      with tf.control_dependencies([grad]):  # Else Grappler merges it with the forward's
        again = tf.identity(product)  # call (common subexpressions) and keeps its output.
      hidden = _bias_gelu_forward(again, bias, tf.bfloat16)
      dkernel = tf.cast(tf.matmul(hidden, grad_product, transpose_a=True), kernel.dtype)
      dhidden = tf.matmul(grad_product, weights, transpose_b=True)
      dproduct, dbias = _bias_gelu_backward(dhidden, product, bias)
      return dproduct, dbias, dkernel, tf.reduce_sum(grad, 0)

    return out, gradients

  return mlp_end(product, tf.convert_to_tensor(bias), tf.convert_to_tensor(kernel),
                 tf.convert_to_tensor(out_bias))


def _attention_weights(logits: tf.Tensor, bias: tf.Tensor | None, mask: tf.Tensor | None,
                       dtype: tf.DType, scale: float = 1.0) -> tf.Tensor:
  if logits.dtype == tf.bfloat16:
    logits = tf.cast(logits, tf.float32)
  if scale != 1.0:
    logits *= scale
  if bias is not None:
    logits += bias[None, None]
  if mask is not None:
    logits += tf.cast(mask, logits.dtype)[None, :, None]
  return tf.cast(tf.nn.softmax(logits, axis=-1), dtype)


_compiled_attention_weights = tf.function(_attention_weights, jit_compile=True)


@tf.function(jit_compile=True)
def _attention_weights_backward(grad: tf.Tensor, weights: tf.Tensor, logits_dtype: tf.DType,
                                scale: float) -> tf.Tensor:
  """The gradient of the logits, in their dtype (``scale`` times the softmax input's). The
  bias's, the softmax input's sum over batch and windows, runs as a plain op: XLA's CPU code
  took 4x as long for the whole backward with it inside (experiments/fused_ops_cost.py;
  docs/complexity.md)."""
  weights = tf.cast(weights, tf.float32)
  grad = tf.cast(grad, tf.float32)
  dinput = weights * (grad - tf.reduce_sum(grad * weights, -1, keepdims=True))
  return tf.cast(dinput * scale, logits_dtype)


def fuses_attention(dtype: tf.DType) -> bool:
  """Whether :func:`attention_weights` runs as one XLA kernel for logits of ``dtype`` (then
  the attention scales its logits there rather than its queries)."""
  return _ENABLED.get() and dtype in (tf.float32, tf.bfloat16)


def attention_weights(logits: tf.Tensor, bias: tf.Tensor | None, mask: tf.Tensor | None,
                      dtype: tf.DType, scale: float = 1.0) -> tf.Tensor:
  """``softmax(scale * logits + bias + mask)`` over the last axis, cast to ``dtype`` (the
  attention's v), for logits ``(batch, nW, heads, N, N)``, bias ``(heads, N, N)`` and mask
  ``(nW, N, N)`` (either may be None); bfloat16 logits are summed in float32. If
  :func:`fuses_attention`, one XLA kernel whose gradient keeps only the weights (in
  ``dtype``), as the matmul with v does anyway."""
  if not fuses_attention(logits.dtype):
    return _attention_weights(logits, bias, mask, dtype, scale)
  inputs = [logits] if bias is None else [logits, tf.cast(bias, tf.float32)]

  def gradients(grad, weights):
    dlogits = _attention_weights_backward(grad, weights, logits.dtype, scale)
    if bias is None:
      return [dlogits]
    return [dlogits, tf.reduce_sum(tf.cast(dlogits, tf.float32), [0, 1]) / scale]

  @tf.custom_gradient
  def softmax(*inputs):
    weights = _compiled_attention_weights(inputs[0], inputs[1] if bias is not None else None,
                                          mask, dtype, scale)
    return weights, lambda grad: gradients(grad, weights)

  return softmax(*inputs)


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
  :func:`compiled_elementwise` one XLA kernel (with its own gradient for :func:`gelu`), else
  plain ops."""
  if not _ENABLED.get():
    return _bias_activation(product, bias, activation, dtype)
  if activation is gelu:
    return _fused_bias_gelu(product, bias, dtype)
  return _compiled_bias_activation(product, bias, activation, dtype)


def gelu(x: tf.Tensor) -> tf.Tensor:
  """Exact (erf) GELU, as Keras' ``"gelu"`` activation; compiled inside
  :func:`compiled_elementwise`."""
  if use_compiled(x):
    return _fused_bias_gelu(x, None, x.dtype)
  return tf.keras.activations.gelu(x)
