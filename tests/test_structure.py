"""Codecs from parts: config serialization, registries, preparation state, SavedModel restore."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tfc_swin import configs
from tfc_swin.codecs import NotPreparedError, build_codec, restore_codec
from tfc_swin.codecs.image import set_coding_options
from tfc_swin.coder import Coder
from tfc_swin.configs import ChARM, CodecConfig, Hyperprior, SwinTransform, get_config
from tfc_swin.registry import Registry

ZOO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo")


@pytest.mark.parametrize("name", configs.config_names())
def test_config_round_trips_through_json(name):
  config = get_config(name)
  assert CodecConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_flat_configs_of_old_zoo_versions_are_read():
  flat = {"name": "swint-hyperprior-cpu", "family": "SwinTHyperprior",
          "analysis": [48, 64, 96, 160], "hyper": [96, 96], "depths": [1, 1, 2, 1, 2, 1],
          "windows": [8, 4], "head_dim": 32, "num_slices": 10, "slice_transform": "conv",
          "relative_position_bias": True, "shifted_windows": True, "num_scales": 64,
          "paper_params_m": None, "description": "SwinT-Hyperprior sized for CPU training"}
  assert CodecConfig.from_dict(flat) == get_config("swint-hyperprior-cpu")
  flat = {"name": "conv-charm-cpu", "family": "ConvChARM", "analysis": [128, 128, 128, 192],
          "hyper": [128, 128, 128], "num_slices": 6, "description": get_config(
              "conv-charm-cpu").description}
  assert CodecConfig.from_dict(flat) == get_config("conv-charm-cpu")


def test_parts_name_the_family():
  assert get_config("swint-charm").family == "SwinT-ChARM"
  assert get_config("conv-hyperprior").family == "Conv-Hyperprior"
  assert isinstance(get_config("swint-charm-s5").prior, ChARM)
  assert get_config("swint-charm-s5").prior.max_support == 5
  assert isinstance(get_config("swint-hyperprior-tiny").transform, SwinTransform)


def test_unknown_names_give_clear_errors():
  with pytest.raises(ValueError, match="unknown config 'nope'; known: .*swint-charm"):
    get_config("nope")
  with pytest.raises(ValueError, match="unknown config part kind 'mlp'"):
    CodecConfig.from_dict({"name": "x", "transform": {"kind": "mlp"},
                           "prior": Hyperprior().to_dict()})
  with pytest.raises(ValueError, match="unknown swin config fields"):
    SwinTransform.from_dict({"analysis": [], "hyper": [], "windows": 3})
  registry = Registry("thing")
  registry.register("a")(1)
  with pytest.raises(ValueError, match="already registered"):
    registry.register("a")(2)


def test_compress_before_prepare_is_a_clear_error():
  codec = build_codec("conv-hyperprior-tiny")
  with pytest.raises(NotPreparedError, match="prepare_for_compression"):
    codec.compress(tf.zeros([8, 8, 3], tf.uint8))
  with pytest.raises(NotPreparedError, match="prepare_for_compression"):
    codec.prior.compress(tf.zeros([1, 1, 1, 12]), tf.zeros([1, 1, 1, 24]))


def test_support_cap_keeps_hidden_widths():
  """A capped ChARM drops input channels only: the AICT paper's 31.33M for SwinT-ChARM."""
  codec = build_codec("conv-charm-tiny")
  prior = build_codec(CodecConfig("capped", get_config("conv-charm-tiny").transform,
                                  ChARM(num_slices=3, max_support=1))).prior
  assert [t.in_channels for t in prior.mean_transforms] == [4, 8, 8]
  widths = lambda p: [[layer.filters for layer in t.layers_] for t in p.mean_transforms]  # noqa
  assert widths(prior) == widths(codec.prior)


def _shipped_saved_models():
  found = []
  for name in sorted(os.listdir(ZOO)) if os.path.isdir(ZOO) else []:
    base = os.path.join(ZOO, name)
    for version in sorted(os.listdir(base)) if os.path.isdir(base) else []:
      folder = os.path.join(base, version)
      if os.path.isdir(folder):
        found.append(os.path.join(folder, sorted(os.listdir(folder))[0]))
  return found


@pytest.mark.slow
@pytest.mark.parametrize("path", _shipped_saved_models())
def test_restored_shipped_models_write_identical_files(path):
  """The codec rebuilt from the config stored in a shipped SavedModel (and its weights)
  writes the same bytes as the SavedModel itself: the part-based codecs did not change any
  shipped model's bitstream."""
  saved = Coder.from_saved_model(path)
  codec = restore_codec(path)
  assert codec.fingerprint() == saved.model_id.fingerprint
  restored = Coder.from_codec(codec, saved.model_id.name)
  rng = np.random.default_rng(0)
  image = np.clip(np.cumsum(rng.normal(0, 6, (70, 90, 3)), axis=1) + 128, 0, 255)
  image = image.astype(np.uint8)
  data = saved.compress_array(image)
  assert restored.compress_array(image) == data
  np.testing.assert_array_equal(restored.decompress_array(data)[0],
                                saved.decompress_array(data)[0])


@pytest.mark.parametrize("name", configs.video_config_names())
def test_video_configs_round_trip_and_build(name):
  config = configs.get_video_config(name)
  assert configs.VideoCodecConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
  if name.endswith("-tiny"):
    from tfc_swin.codecs import ImageCodec  # pylint: disable=import-outside-toplevel
    flow = ImageCodec(config.flow)
    out = flow.autoencode(tf.zeros([1, 64, 64, 6]))
    assert out["x_hat"].shape == (1, 64, 64, 3)


def test_ssf_first_merge_downsamples_by_four():
  """SwinT-SSF g_a: x4, x2, x2 merges (App. A.2); g_s mirrors them."""
  from tfc_swin.codecs import ImageCodec  # pylint: disable=import-outside-toplevel
  codec = ImageCodec(configs.get_video_config("swint-ssf-tiny").residual)
  shapes = []
  x = tf.zeros([1, 64, 64, 3])
  for stage in codec.g_a.layers[1:]:
    x = stage(x)
    shapes.append(tuple(x.shape[1:3]))
  assert shapes == [(16, 16), (8, 8), (4, 4)]
  assert codec.g_s(x).shape == (1, 64, 64, 3)


@pytest.mark.slow
def test_entropy_parameters_compute_in_float64_with_float32_weights():
  """h_s and the ChARM slice networks run in float64 (layers/precision.py); training may
  build them in float32: same variables, nearly the same outputs."""
  from tfc_swin.layers.precision import (  # pylint: disable=import-outside-toplevel
      float32_entropy_parameters)
  tf.keras.utils.set_random_seed(1)
  exact = build_codec("ict-tiny")
  tf.keras.utils.set_random_seed(1)
  with float32_entropy_parameters():
    fast = build_codec("ict-tiny")
  assert exact.h_s.compute_dtype == "float64" and fast.h_s.compute_dtype == "float32"
  assert exact.prior.mean_transforms[1].compute_dtype == "float64"
  assert {v.dtype for v in exact.trainable_variables} == {tf.float32}
  assert exact.fingerprint() == fast.fingerprint()
  z = tf.random.normal([1, 2, 3, exact.config.hyper_channels])
  np.testing.assert_allclose(exact.entropy_parameters(z), fast.entropy_parameters(z),
                             rtol=1e-4, atol=1e-4)
  # The coding option switches a float64 codec to float32 in place (same computation as a
  # float32 build) and back; a float32 build cannot go to float64 (its weights do not cast).
  set_coding_options(exact, float32_entropy_parameters=True)
  assert exact.h_s.compute_dtype == "float32"
  assert exact.prior.scale_transforms[1].compute_dtype == "float32"
  np.testing.assert_allclose(exact.entropy_parameters(z), fast.entropy_parameters(z),
                             rtol=1e-6, atol=1e-6)
  set_coding_options(exact, float32_entropy_parameters=False)
  assert exact.prior.mean_transforms[1].compute_dtype == "float64"
  with pytest.raises(ValueError, match="cannot compute them in float64"):
    set_coding_options(fast, float32_entropy_parameters=False)
