"""Codecs: paper parameter counts, forward pass, exact latent round trip through the file."""
import numpy as np
import pytest
import tensorflow as tf

from tfc_swin.api import load_coder, untrained_coder
from tfc_swin.codecs import pad_to_multiple
from tfc_swin.configs import config_names, get_config
from helpers import smooth_image

TINY = ["conv-hyperprior-tiny", "conv-charm-tiny", "swint-hyperprior-tiny", "swint-charm-tiny"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in config_names() if get_config(n).paper_params_m])
def test_paper_parameter_counts(name, paper_codec):
  """Table 3 and ablation A5: within 1.5% of the paper's trainable parameter counts."""
  paper = get_config(name).paper_params_m * 1e6
  count = paper_codec(name).count_parameters()
  assert abs(count - paper) / paper < 0.015, (name, count, paper)


@pytest.fixture(scope="module", params=TINY)
def codec(request):
  """The tiny codec with seed-0 weights, prepared for coding: load_coder's untrained model of
  the config (cached per process, so test_cli and test_robustness reuse it; see conftest.py)."""
  return load_coder(request.param).model


@pytest.mark.slow
def test_forward_returns_rate_and_distortion(codec):
  x = tf.constant(smooth_image(64, 64)[None], tf.float32)
  out = codec(x, training=True)
  assert out["x_hat"].shape == x.shape
  assert out["bits"].shape == (1,) and float(out["bits"][0]) > 0
  np.testing.assert_allclose(out["bpp"], out["bits"] / 64 / 64, rtol=1e-6)


def test_training_gradients_reach_all_parts(codec):
  x = tf.constant(smooth_image(64, 64)[None], tf.float32)
  with tf.GradientTape() as tape:
    out = codec(x, training=True)
    loss = tf.reduce_mean(out["mse"] + 0.01 * out["bits"])
  grads = tape.gradient(loss, codec.trainable_variables)
  missing = [v.name for v, g in zip(codec.trainable_variables, grads) if g is None]
  assert not missing


def _encoder_latents(codec, image):
  """The quantized latents exactly as the encoder hands them to the range coder."""
  x = pad_to_multiple(tf.cast(image[None], tf.float32))
  y = codec.g_a(x)
  z = codec.h_a(y)
  _, z_hat = codec.code_hyper_latent(z)
  params = codec.entropy_parameters(z_hat)
  mean, index = tf.split(params, 2, axis=-1)
  prior = codec.prior
  if not hasattr(prior, "num_slices"):
    return z_hat, prior.coder.quantize(y, loc=mean)
  decoded = []
  for s, y_slice in enumerate(tf.split(y, prior.num_slices, axis=-1)):
    mu, _ = prior._slice_params(s, mean, index, decoded)  # pylint: disable=protected-access
    decoded.append(prior.coder.quantize(y_slice, loc=mu))
  return z_hat, tf.concat(decoded, axis=-1)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(1, 1), (37, 70), (70, 37), (64, 64), (65, 3)])
def test_quantized_latents_round_trip_exactly(codec, shape):
  image = smooth_image(*shape, seed=sum(shape))
  out = codec.compress(image)
  strings, size = out["strings"], out["shape"]
  assert tuple(size.numpy()) == shape
  assert strings.shape == (codec.num_strings,)
  z_hat, y_hat = _encoder_latents(codec, image)
  # Decoder side: from the strings only.
  padded = -(-np.array(shape) // 64) * 64
  z_dec = codec.hyper_coder.decompress(strings[:1], padded // 64)
  np.testing.assert_array_equal(z_dec, z_hat)
  y_strings = [strings[i:i + 1] for i in range(1, codec.num_strings)]
  y_dec, _ = codec.prior.decompress(y_strings, codec.entropy_parameters(z_dec))
  np.testing.assert_array_equal(y_dec, y_hat)
  decoded = codec.decompress(strings, size)
  assert decoded["image"].shape == shape + (3,)
  assert int(decoded["index_checksum"]) == int(out["index_checksum"])
  # g_s runs eagerly here and in a graph in decompress: allow a 1-level rounding difference.
  expected = tf.clip_by_value(tf.round(codec.g_s(y_hat)), 0, 255)[0, :shape[0], :shape[1]]
  np.testing.assert_allclose(tf.cast(decoded["image"], tf.float32), expected, atol=1)


@pytest.mark.slow
def test_range_coding_alone_is_the_priors_coding(codec):
  """What benchmark.py times as range coding alone (the prior's networks excluded) writes the
  prior's strings and decodes y_hat, given each part's mean and scale index."""
  image = smooth_image(37, 70)
  _, y_hat = _encoder_latents(codec, image)
  y = codec.g_a(pad_to_multiple(tf.cast(image[None], tf.float32)))
  params = codec.entropy_parameters(codec.code_hyper_latent(codec.h_a(y))[1])
  parts = codec.prior.coding_parameters(y, params)
  assert len(parts) == codec.num_strings - 1
  strings, _ = codec.prior.compress(y, params)
  assert [s.numpy() for s in codec.prior.range_encode(parts)] == [s.numpy() for s in strings]
  np.testing.assert_array_equal(tf.concat(codec.prior.range_decode(strings, parts), -1), y_hat)


@pytest.mark.slow
def test_untrained_coder_is_deterministic():
  a = untrained_coder("conv-hyperprior-tiny", seed=3)
  b = untrained_coder("conv-hyperprior-tiny", seed=3)
  assert a.model_id == b.model_id
  image = smooth_image(20, 30)
  assert a.compress_array(image) == b.compress_array(image)
