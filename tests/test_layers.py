"""Swin layers: shapes, serialization, and shifted-window attention against a reference."""
import numpy as np
import pytest
import tensorflow as tf

from tfc_swin.layers import (PatchMerge, PatchSplit, SwinStage, SwinTransformerBlock,
                             WindowAttention)
from tfc_swin.layers import compiled
from tfc_swin.layers.precision import Linear, bfloat16_matmuls, float64_compute
from tfc_swin.layers.swin import (LayerNorm, effective_window, recompute_swin_blocks,
                                  shifted_window_mask)


@pytest.mark.parametrize("shape", [(2, 16, 16, 32), (1, 7, 13, 32), (1, 1, 1, 32),
                                   (1, 9, 4, 64)])
@pytest.mark.parametrize("shift", [False, True])
def test_block_keeps_shape(shape, shift):
  block = SwinTransformerBlock(window_size=4, shift=shift, head_dim=16)
  assert block(tf.random.normal(shape)).shape == shape


def test_block_dynamic_shapes_in_graph():
  block = SwinTransformerBlock(window_size=4, shift=True, head_dim=16)
  fn = tf.function(block, input_signature=[tf.TensorSpec([None, None, None, 32])])
  for shape in [(1, 9, 10, 32), (2, 3, 17, 32), (1, 1, 1, 32)]:
    assert fn(tf.random.normal(shape)).shape == shape


def test_patch_merge_and_split_shapes():
  x = tf.random.normal((2, 9, 6, 16))
  assert PatchMerge(24)(x).shape == (2, 5, 3, 24)
  assert PatchSplit(8)(x).shape == (2, 18, 12, 8)
  assert SwinStage(24, 2, "merge", window_size=2, head_dim=8)(x).shape == (2, 5, 3, 24)
  assert SwinStage(8, 2, "split", window_size=2, head_dim=8)(x).shape == (2, 18, 12, 8)


def test_window_shrinks_to_map_and_drops_shift():
  window, shift = effective_window(tf.constant(3), tf.constant(10), 8, True)
  assert (int(window), int(shift)) == (3, 0)
  window, shift = effective_window(tf.constant(16), tf.constant(10), 8, True)
  assert (int(window), int(shift)) == (8, 4)


@pytest.mark.parametrize("layer", [
    WindowAttention(window_size=4, head_dim=8, relative_position_bias=False),
    SwinTransformerBlock(window_size=4, shift=True, head_dim=8, layer_norm=False),
    PatchMerge(12, layer_norm=False, use_bias=True),
    PatchSplit(12),
    SwinStage(12, 3, "split", window_size=2, head_dim=4, shifted_windows=False),
])
def test_get_config_round_trip(layer):
  x = tf.random.normal((1, 16, 8)) if isinstance(layer, WindowAttention) else \
      tf.random.normal((1, 6, 6, 8))
  y = layer(x)
  clone = type(layer).from_config(layer.get_config())
  clone(x)
  clone.set_weights(layer.get_weights())
  np.testing.assert_allclose(clone(x), y, rtol=1e-5, atol=1e-5)
  assert clone.get_config() == layer.get_config()
  restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
  assert type(restored) is type(layer)


def test_layer_norm_and_bias_switches_change_weights():
  x = tf.random.normal((1, 8, 8, 32))
  with_ln = SwinTransformerBlock(4, head_dim=16)
  without = SwinTransformerBlock(4, head_dim=16, layer_norm=False, relative_position_bias=False)
  with_ln(x), without(x)
  names = lambda l: {w.name.split("/")[-1] for w in l.weights}  # noqa: E731
  assert "relative_position_bias_table:0" in names(with_ln)
  assert "relative_position_bias_table:0" not in names(without)
  assert len(with_ln.weights) - len(without.weights) == 4 + 1  # 2 LayerNorms, 1 bias table


def _reference_block_attention(block, x):
  """Explicit-mask reference for one (shifted) window-attention block on an HxW map.

  Every token attends over the whole map, masked to the tokens that share its window after
  the cyclic shift and come from the same region (i.e. are not wrapped around).
  """
  _, h, w, c = x.shape
  ws, shift = block.window_size, block.window_size // 2 if block.shift else 0
  attn = block.attn
  t = block.norm1(x)[0].numpy().reshape(h * w, c)
  qkv = attn.qkv(t[None])[0].numpy().reshape(h * w, 3, attn.num_heads, c // attn.num_heads)
  q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
  # Position of every token in the shifted frame.
  rows, cols = np.divmod(np.arange(h * w), w)
  sr, sc = (rows - shift) % h, (cols - shift) % w
  window = (sr // ws) * (w // ws) + sc // ws

  def region(p, size):
    return np.where(p < size - ws, 0, np.where(p < size - shift, 1, 2)) if shift else 0 * p

  reg = region(sr, h) * 3 + region(sc, w)
  allowed = (window[:, None] == window[None, :]) & (reg[:, None] == reg[None, :])
  table = attn.bias_table.numpy()
  rel_r = (sr % ws)[:, None] - (sr % ws)[None, :] + ws - 1
  rel_c = (sc % ws)[:, None] - (sc % ws)[None, :] + ws - 1
  bias = table[rel_r * (2 * ws - 1) + rel_c]  # (N, N, heads)
  hd = c // attn.num_heads
  out = np.zeros((h * w, attn.num_heads, hd))
  for head in range(attn.num_heads):
    logits = q[:, head] @ k[:, head].T * hd ** -0.5 + bias[..., head]
    logits = np.where(allowed, logits, -np.inf)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    out[:, head] = p @ v[:, head]
  attended = attn.proj(out.reshape(1, h * w, c).astype(np.float32))[0].numpy()
  x1 = (x[0].numpy().reshape(h * w, c) + attended).reshape(1, h, w, c)
  return x1 + block.mlp(block.norm2(x1)).numpy()


@pytest.mark.parametrize("shift", [False, True])
def test_shifted_window_attention_matches_explicit_mask(shift):
  tf.keras.utils.set_random_seed(1)
  block = SwinTransformerBlock(window_size=4, shift=shift, head_dim=8)
  x = tf.random.normal((1, 8, 12, 16))
  y = block(x)
  # Make the position bias non-trivial so its indexing is tested too.
  block.attn.bias_table.assign(tf.random.normal(block.attn.bias_table.shape))
  y = block(x).numpy()
  np.testing.assert_allclose(y, _reference_block_attention(block, x), rtol=1e-4, atol=1e-4)


def test_recomputed_blocks_give_the_same_outputs_and_gradients():
  """Gradient checkpointing (trainer --recompute) changes memory, not results."""
  tf.random.set_seed(0)
  stage = SwinStage(16, depth=2, window_size=4, head_dim=8)
  x = tf.random.normal([2, 20, 12, 8])
  stage(x)

  def outputs_and_gradients():
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = stage(x)
      loss = tf.reduce_sum(y ** 2)
    grads = tape.gradient(loss, [x] + stage.trainable_variables)
    return [y] + [tf.convert_to_tensor(g) for g in grads]

  plain = outputs_and_gradients()
  assert recompute_swin_blocks(stage) == 2
  recomputed = tf.function(outputs_and_gradients)()
  assert len(plain) == len(recomputed)
  for a, b in zip(plain, recomputed):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def _value_and_grads(fn, x, variables):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = fn(x)
    loss = tf.reduce_sum(y * tf.cos(y))
  return [y] + tape.gradient(loss, [x] + list(variables))


def test_compiled_layer_norm_and_gelu_match_the_plain_ops():
  """Training steps trace LayerNorm and GELU as XLA clusters (layers.compiled): same values
  and gradients as the plain ops up to float rounding; float64 and code outside the context
  keep the plain ops."""
  x = tf.random.stateless_normal([2, 5, 7, 24], (3, 4)) * 3.0 + 1.0
  norm = LayerNorm(epsilon=1e-5)
  norm.build(x.shape)
  norm.gamma.assign(tf.random.stateless_normal([24], (5, 6)))
  norm.beta.assign(tf.random.stateless_normal([24], (7, 8)))
  for fn, variables in ((norm, norm.trainable_variables), (compiled.gelu, [])):
    plain = _value_and_grads(fn, x, variables)
    with compiled.compiled_elementwise():
      fused = _value_and_grads(fn, x, variables)
    for a, b in zip(plain, fused):
      np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=2e-4, atol=2e-4)
  assert not compiled.use_compiled(x)
  with compiled.compiled_elementwise():
    assert compiled.use_compiled(x)
    assert not compiled.use_compiled(tf.cast(x, tf.float64))


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
@pytest.mark.parametrize("scale", [1.0, 32 ** -0.5])
def test_compiled_attention_weights_have_the_plain_gradients(dtype, scale):
  """softmax(scale * logits + relative bias + shift mask), fused with its own gradient kernel:
  the values and the gradients of the logits and the bias are the plain ops'."""
  logits = tf.cast(tf.random.stateless_normal([2, 4, 3, 16, 16], (1, 2)) * 3.0 / scale, dtype)
  bias = tf.Variable(tf.random.stateless_normal([3, 16, 16], (3, 4)))
  mask = shifted_window_mask(8, 8, 4, 2)  # (4, 16, 16)

  def weights(x):
    return tf.cast(compiled.attention_weights(x, tf.identity(bias), mask, dtype, scale),
                   tf.float32)

  plain = _value_and_grads(weights, logits, [bias])
  with compiled.compiled_elementwise():
    fused = _value_and_grads(tf.function(weights), logits, [bias])
  tolerance = 2e-5 if dtype == tf.float32 else 1e-2
  for a, b in zip(plain, fused):
    assert a.dtype == b.dtype
    np.testing.assert_allclose(tf.cast(a, tf.float32).numpy(), tf.cast(b, tf.float32).numpy(),
                               rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
@pytest.mark.parametrize("with_bias", [True, False])
def test_compiled_bias_gelu_has_the_plain_gradients(dtype, with_bias):
  """The end of a (bfloat16) matmul, bias + GELU, fused with its own gradient kernel: the
  values and the gradients of the product and the bias are the plain ops'."""
  product = tf.cast(tf.random.stateless_normal([40, 24], (1, 2)) * 2.0, dtype)
  bias = tf.Variable(tf.random.stateless_normal([24], (3, 4))) if with_bias else None
  variables = [bias] if with_bias else []

  def end_of_matmul(p):
    return tf.cast(compiled.bias_activation(p, bias, compiled.gelu, dtype), tf.float32)

  plain = _value_and_grads(end_of_matmul, product, variables)
  with compiled.compiled_elementwise():
    fused = _value_and_grads(tf.function(end_of_matmul), product, variables)
  tolerance = 2e-4 if dtype == tf.float32 else 2e-2
  for a, b in zip(plain, fused):
    assert a.dtype == b.dtype
    np.testing.assert_allclose(tf.cast(a, tf.float32).numpy(), tf.cast(b, tf.float32).numpy(),
                               rtol=tolerance, atol=tolerance)


def test_linear_multiplies_in_bfloat16_only_where_asked():
  """Linear (layers.precision) is Keras' Dense, except that traced inside
  bfloat16_matmuls() with float32 inputs it multiplies bfloat16 copies (issue 16): results
  within bfloat16 rounding, still float32; bfloat16=False layers and float64 inputs keep their
  own precision, and the weights are Dense's."""
  tf.keras.utils.set_random_seed(3)
  x = tf.random.normal([2, 5, 7, 48])
  linear = Linear(96, activation="gelu")
  kept = Linear(96, bfloat16=False)
  dense = tf.keras.layers.Dense(96, activation="gelu")
  with float64_compute():  # as h_s and the ChARM networks are built
    linear64 = Linear(96)
  x64 = tf.cast(x, tf.float64)
  plain64 = linear64(x64)
  plain, plain_kept = linear(x), kept(x)
  dense(x)
  dense.set_weights(linear.get_weights())
  np.testing.assert_array_equal(plain.numpy(), dense(x).numpy())
  with bfloat16_matmuls():
    mixed = tf.function(linear)(x)
    np.testing.assert_array_equal(tf.function(kept)(x).numpy(), plain_kept.numpy())
    np.testing.assert_array_equal(tf.function(linear64)(x64).numpy(), plain64.numpy())
  with bfloat16_matmuls(False):
    np.testing.assert_array_equal(linear(x).numpy(), plain.numpy())
  assert mixed.dtype == tf.float32 and mixed.shape == plain.shape
  error = np.abs(mixed.numpy() - plain.numpy()).max()
  assert 0 < error < 0.05 * np.abs(plain.numpy()).max()
  assert Linear.from_config(linear.get_config()).bfloat16
  assert not Linear.from_config(kept.get_config()).bfloat16


def test_swin_blocks_in_bfloat16_stay_close_and_float64_blocks_are_untouched():
  """Inside bfloat16_matmuls() a shifted Swin block (LayerNorm -> bfloat16 qkv, attention and
  MLP matmuls) returns float32 within bfloat16 rounding of its float32 output; a block built
  for float64 (h_s) computes exactly as outside the context."""
  tf.keras.utils.set_random_seed(5)
  x = tf.random.normal([1, 12, 12, 32])
  block = SwinTransformerBlock(window_size=4, shift=True, head_dim=8)
  with float64_compute():  # built (first call) inside, as ImageCodec builds h_s
    block64 = SwinTransformerBlock(window_size=4, shift=True, head_dim=8)
    block64(x)
  plain, plain64 = block(x), tf.function(block64)(x)
  with bfloat16_matmuls():
    mixed, mixed64 = tf.function(block)(x), tf.function(block64)(x)
  assert mixed.dtype == tf.float32 and mixed64.dtype == tf.float64
  np.testing.assert_array_equal(mixed64.numpy(), plain64.numpy())
  error = np.abs(mixed.numpy() - plain.numpy())
  assert 0 < error.max() < 0.05 * np.abs(plain.numpy()).max()


def test_fused_bfloat16_block_has_the_plain_bfloat16_gradients(monkeypatch):
  """A training step's Swin block with fused ops (XLA LayerNorm, attention softmax with the
  query scale folded into its logits and, with ``recompute_gelu``, the MLP end that computes
  its GELU again in the backward pass, compiled.gelu_linear) gives the values and the
  gradients of the same bfloat16 block with plain ops, up to bfloat16 rounding."""
  tf.keras.utils.set_random_seed(7)
  x = tf.random.normal([2, 12, 12, 32])
  block = SwinTransformerBlock(window_size=4, shift=True, head_dim=8)
  block(x)
  calls = []
  gelu_linear = compiled.gelu_linear
  monkeypatch.setattr(compiled, "gelu_linear", lambda *a: calls.append(1) or gelu_linear(*a))
  with bfloat16_matmuls():
    plain = _value_and_grads(tf.function(block), x, block.trainable_variables)
    assert not calls
    with compiled.compiled_elementwise():
      _value_and_grads(tf.function(block), x, block.trainable_variables)
    assert not calls  # Only with recompute_gelu.
    with compiled.compiled_elementwise(recompute_gelu=True):
      fused = _value_and_grads(tf.function(block), x, block.trainable_variables)
    assert calls
  assert len(plain) == len(fused) == 2 + len(block.trainable_variables)
  for a, b in zip(plain, fused):
    a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_allclose(b, a, atol=0.03 * np.abs(a).max())
