"""The encoder-side motion hint of the ``-bm`` P-frame configs: block matching
(tfc_swin/layers/motion_search.py) and its place in the codec (tfc_swin/codecs/video.py)."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tfc_swin.codecs import ImageCodec, build_video_codec
from tfc_swin.configs import VideoCodecConfig, get_video_config
from tfc_swin.layers import ScaleSpaceWarp
from tfc_swin.layers.motion_search import block_motion


def _smooth_image(height, width, seed=0):
  noise = np.random.default_rng(seed).normal(0, 1, (height, width, 3))
  image = np.cumsum(np.cumsum(noise, 0), 1)
  return (image - image.min()) / (image.max() - image.min()) * 255


def test_block_motion_finds_a_known_shift_in_the_warp_convention():
  reference = _smooth_image(64, 64)
  frame = np.roll(reference, (2, -3), axis=(0, 1))  # frame[i, j] = reference[i - 2, j + 3]
  flow = block_motion(tf.constant(frame[None], tf.float32),
                      tf.constant(reference[None], tf.float32), block=8, search=4).numpy()
  assert flow.shape == (1, 64, 64, 2)
  np.testing.assert_array_equal(flow[0, 8:56, 8:56], np.broadcast_to([3, -2], (48, 48, 2)))
  field = tf.concat([flow, tf.zeros([1, 64, 64, 1])], -1)
  predicted = ScaleSpaceWarp()(tf.constant(reference[None], tf.float32), field)[0].numpy()
  np.testing.assert_allclose(predicted[8:56, 8:56], frame[8:56, 8:56], atol=1e-3)
  flat = tf.fill([1, 16, 16, 3], 100.0)  # no texture: every offset ties, the zero one wins
  assert not np.any(block_motion(flat, flat, block=8, search=2).numpy())
  with pytest.raises(ValueError, match="block must be >= 1"):
    block_motion(flat, flat, block=0)


def test_motion_hint_configs_are_registered_and_serialize():
  for name in ("conv-ssf-cpu", "swint-ssf-cpu", "swint-ssf-res-cpu"):
    base, hinted = get_video_config(name), get_video_config(f"{name}-bm")
    assert base.motion_hint is None and hinted.motion_hint.search == 16
    assert hinted.flow.transform == dataclasses.replace(base.flow.transform, in_channels=8)
    assert hinted.residual.transform == base.residual.transform
    assert VideoCodecConfig.from_dict(hinted.to_dict()) == hinted
    assert "motion_hint" not in base.to_dict()  # configs without it serialize as before


@pytest.mark.slow
def test_hinted_codec_trains_towards_the_hint_and_decodes_without_it():
  tf.keras.utils.set_random_seed(0)
  codec = build_video_codec("swint-ssf-tiny-bm")
  plain = ImageCodec(get_video_config("swint-ssf-tiny").flow)
  assert codec.flow.count_parameters() > plain.count_parameters()  # 2 more input channels
  reference = _smooth_image(64, 64)
  clip = tf.constant(np.stack([reference, np.roll(reference, (1, 2), axis=(0, 1))])[None],
                     tf.float32)
  with tf.GradientTape() as tape:
    out = codec(clip, training=False)
  # Frame 1's flow loss: the warp MSE plus the decoded flow's MSE against the hint.
  iframe = tf.clip_by_value(codec.iframe(clip[:, 0], training=False)["x_hat"], 0, 255)
  parts = codec.predict_pframe(clip[:, 1], iframe)
  hint = codec.predict_pframe(clip[:, 1], clip[:, 0])["hint"]  # against the true reference
  np.testing.assert_array_equal(hint[0, 8:56, 8:56], np.broadcast_to([-2, -1], (48, 48, 2)))
  hint_term = float(tf.reduce_mean(tf.square(parts["flow"][..., :2] - parts["hint"]))) * 16
  warp_term = float(tf.reduce_mean(tf.square(parts["prediction"] - clip[:, 1])))
  assert hint_term > 1 and float(out["flow_loss"][0, 1]) == pytest.approx(hint_term + warp_term, rel=0.01)
  grads = tape.gradient(out["flow_loss"], codec.flow.trainable_variables)
  assert any(g is not None and np.any(g.numpy()) for g in grads)
  codec.prepare_for_compression()
  frames = [tf.constant(f, tf.uint8) for f in np.round(clip[0].numpy()).astype(np.uint8)]
  iframe = codec.compress_iframe(frames[0])
  pframe = codec.compress_pframe(frames[1], iframe["image"])
  decoded = codec.decompress_pframe(pframe["strings"], iframe["image"], tf.constant([64, 64]))
  np.testing.assert_array_equal(decoded["image"], pframe["image"])
