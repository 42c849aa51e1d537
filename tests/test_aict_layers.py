"""AICT / ICT building blocks (Ghorbel et al. 2023): ConvNeXt processor, bicubic resampler,
resize parameter network and the Swin slice transform."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tfc_swin.layers import (BicubicResampler, ConvNeXtBlock, ConvNeXtProcessor, ResBlock,
                             ResizeParameterNetwork, scaled_size)
from tfc_swin.layers.resample import keys_cubic
from tfc_swin.priors import ChannelARPrior, SwinSliceTransform, build_slice_transform
from tfc_swin.priors.swin_slice_transform import ict_head_dim

# Our SwinT-ChARM without its ChARM prior (g_a, g_s, h_a, h_s, entropy bottleneck), measured
# with build_codec("swint-charm"): 32,558,608 total - 7,892,236 prior.
SWINT_CHARM_WITHOUT_PRIOR = 24_666_372
ICT_PAPER_PARAMS = 37_132_400  # Ghorbel et al. Table 4: 37.1324M


def _count(layer) -> int:
  return int(sum(np.prod(v.shape) for v in layer.trainable_variables))


def _randomize(layer, seed=0):
  rng = np.random.default_rng(seed)
  layer.set_weights([rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in layer.get_weights()])


# -- ConvNeXt -----------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(2, 7, 13, 16), (1, 1, 1, 8), (1, 9, 4, 12)])
def test_convnext_block_shape_and_near_identity(shape):
  x = tf.random.normal(shape)
  y = ConvNeXtBlock()(x)
  assert y.shape == shape
  np.testing.assert_allclose(y, x, atol=1e-4)  # layer scale starts at 1e-6


@pytest.mark.parametrize("shape", [(2, 7, 13, 3), (1, 1, 1, 3), (1, 33, 17, 3)])
def test_processor_starts_as_identity_and_learns(shape):
  x = tf.random.uniform(shape, 0, 255)
  proc = ConvNeXtProcessor(width=8)
  with tf.GradientTape() as tape:
    y = proc(x)
    loss = tf.reduce_sum(tf.square(y - 128.0))
  assert y.shape == shape
  np.testing.assert_array_equal(y, x)
  grads = dict(zip([v.name for v in proc.trainable_variables],
                   tape.gradient(loss, proc.trainable_variables)))
  out_kernel = [g for n, g in grads.items() if "project_out" in n and "kernel" in n][0]
  assert np.abs(out_kernel).max() > 0
  plain = ConvNeXtProcessor(width=8, residual=False, zero_init=False)
  assert plain(x).shape == shape


def test_processor_parameter_count():
  proc = ConvNeXtProcessor()
  proc(tf.zeros([1, 8, 8, 3]))
  block = 49 * 32 + 32 + 2 * 32 + (32 * 128 + 128) + (128 * 32 + 32) + 32
  assert _count(proc) == (9 * 3 * 32 + 32) + 3 * block + (9 * 35 * 3 + 3) == 31_988


# -- serialization ------------------------------------------------------------------------------
@pytest.mark.parametrize("make, shape, extra", [
    (lambda: ConvNeXtBlock(kernel_size=5, expansion=2), (1, 6, 5, 8), ()),
    (lambda: ConvNeXtProcessor(width=8, depth=2, input_scale=1.0), (1, 6, 5, 3), ()),
    (lambda: ResBlock(), (1, 6, 5, 4), ()),
    (lambda: ResizeParameterNetwork(widths=(4, 8, 8), s_min=0.3, initial_scale=0.9),
     (2, 9, 7, 3), ()),
    (lambda: BicubicResampler("down", a=-0.5, antialias=False), (1, 9, 7, 3), (0.6,)),
    (lambda: BicubicResampler("up"), (1, 5, 4, 3), (0.5, (10, 8))),
    (lambda: SwinSliceTransform(24, 8, uncapped_in_channels=40), (1, 5, 3, 24), ()),
])
def test_get_config_round_trip(make, shape, extra):
  layer = make()
  x = tf.random.uniform(shape, 0, 255)
  layer(x, *extra)
  _randomize(layer)
  y = layer(x, *extra)
  clone = type(layer).from_config(layer.get_config())
  clone(x, *extra)
  clone.set_weights(layer.get_weights())
  np.testing.assert_allclose(clone(x, *extra), y, rtol=1e-5, atol=1e-4)
  assert clone.get_config() == layer.get_config()
  restored = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
  assert type(restored) is type(layer)
  assert restored.get_config() == layer.get_config()


# -- resampler: numpy reference -------------------------------------------------------------------
def _keys(t, a):
  t = abs(t)
  if t < 1:
    return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
  if t < 2:
    return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
  return 0.0


def _reference_matrix(out_size, in_size, ref_size, m, a, antialias):
  """Dense (out, in) interpolation matrix, straight from the module docstring's formulas."""
  widen = max(1.0, m) if antialias else 1.0
  mat = np.zeros((out_size, in_size))
  for j in range(out_size):
    x = (2 * j + 1 - out_size) / ref_size
    u = (m * x * ref_size + in_size - 1) / 2
    taps = range(math.floor(u - 2 * widen) - 1, math.ceil(u + 2 * widen) + 2)
    w = np.array([_keys((k - u) / widen, a) for k in taps])
    for k, wk in zip(taps, w / w.sum()):
      mat[j, min(max(k, 0), in_size - 1)] += wk
  return mat


def _reference(images, scales, size, direction, a=-0.75, antialias=True):
  out = []
  for img, s in zip(images, scales):
    h, w = img.shape[:2]
    m, rh, rw = (1 / s, h, w) if direction == "down" else (s, size[0], size[1])
    my = _reference_matrix(size[0], h, rh, m, a, antialias)
    mx = _reference_matrix(size[1], w, rw, m, a, antialias)
    out.append(np.einsum("oh,hwc,pw->opc", my, img, mx))
  return np.stack(out)


@pytest.mark.parametrize("direction, in_hw, size, scales, antialias, a", [
    ("down", (9, 7), (5, 4), [0.5], True, -0.75),
    ("down", (9, 7), (3, 3), [0.3], True, -0.75),
    ("down", (8, 11), (6, 8), [0.7, 0.55], True, -0.75),  # one s per image, shared canvas
    ("down", (9, 7), (5, 4), [0.5], False, -0.75),
    ("down", (6, 6), (3, 3), [0.45], False, -0.5),
    ("up", (4, 3), (9, 7), [0.45], True, -0.75),
    ("up", (5, 4), (8, 11), [0.7, 0.55], True, -0.75),
    ("up", (1, 1), (3, 2), [0.3], True, -0.75),
])
def test_resampler_matches_numpy_reference(direction, in_hw, size, scales, antialias, a):
  images = np.random.default_rng(1).uniform(0, 1, (len(scales), *in_hw, 2))
  layer = BicubicResampler(direction, a=a, antialias=antialias, dtype="float64")
  got = layer(images, np.array(scales), size)
  assert got.shape == (len(scales), *size, 2)
  np.testing.assert_allclose(got, _reference(images, scales, size, direction, a, antialias),
                             atol=1e-10)


def test_resampler_identity_at_scale_one():
  x = tf.random.uniform((2, 7, 10, 3))
  down = BicubicResampler("down")
  y = down(x, 1.0)
  assert y.shape == x.shape
  np.testing.assert_allclose(y, x, atol=1e-6)
  np.testing.assert_allclose(BicubicResampler("up")(x, [1.0, 1.0], (7, 10)), x, atol=1e-6)


def test_resampler_real_canvas_round_trip(image):
  x = tf.cast(image[None], tf.float32)  # 40 x 56 smooth image
  s = tf.constant(0.5)
  size = scaled_size(40, 56, 0.5)
  small = BicubicResampler("down")(x, s, size)
  assert small.shape == (1, 20, 28, 3)
  back = BicubicResampler("up")(small, s, (40, 56))
  assert back.shape == x.shape
  assert float(tf.reduce_mean(tf.abs(back - x))) < 12.0
  # A canvas padded past s*H replicates the edge and the up-scaler reads the image part only.
  padded = BicubicResampler("down")(x, s, (32, 32))
  np.testing.assert_allclose(padded[:, 6:26, 2:30], small, atol=1e-3)
  # Up-scaling reads the image part; only the kernel's reach at the edges sees the padding.
  np.testing.assert_allclose(BicubicResampler("up")(padded, s, (40, 56))[:, 4:-4, 4:-4],
                             back[:, 4:-4, 4:-4], atol=1e-3)


@pytest.mark.parametrize("direction, antialias", [("down", True), ("down", False),
                                                  ("up", False)])
def test_resampler_agrees_with_tf_image_resize_at_factor_two(direction, antialias):
  """Same geometry as tf.image.resize (half-pixel centres); with TF's a = -0.5 the interiors
  agree. Borders differ (TF drops out-of-image taps and renormalizes; we replicate)."""
  x = tf.random.uniform((1, 16, 12, 3))
  if direction == "down":
    ours = BicubicResampler("down", a=-0.5, antialias=antialias)(x, 0.5)
    theirs = tf.image.resize(x, (8, 6), "bicubic", antialias=antialias)
    crop = np.s_[:, 2:-2, 2:-2] if antialias else np.s_[:, 1:-1, 1:-1]
  else:
    ours = BicubicResampler("up", a=-0.5)(x, 0.5, (32, 24))
    theirs = tf.image.resize(x, (32, 24), "bicubic")
    crop = np.s_[:, 3:-3, 3:-3]
  assert ours.shape == theirs.shape
  np.testing.assert_allclose(ours[crop], theirs[crop], atol=1e-5)
  assert np.abs(ours - theirs).max() > 1e-3  # the border convention does differ
  default = BicubicResampler(direction)(x, 0.5, ours.shape[1:3])  # a = -0.75
  assert np.abs(default[crop] - theirs[crop]).max() > 1e-3


@pytest.mark.parametrize("direction, size", [("down", (5, 6)), ("up", (13, 11))])
def test_resampler_gradients(direction, size):
  rng = np.random.default_rng(2)
  x = tf.constant(rng.uniform(0, 1, (2, 9, 8, 2)))
  probe = tf.constant(rng.normal(size=(2, *size, 2)))
  layer = BicubicResampler(direction, dtype="float64")

  def f(img, s):
    return tf.reduce_sum(layer(img, s, size) * probe)

  s = tf.constant([0.57, 0.71], tf.float64)
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, s])
    value = f(x, s)
  grad_x, grad_s = tape.gradient(value, [x, s])
  assert np.all(np.isfinite(grad_s)) and np.all(np.abs(grad_s) > 0)
  eps = 1e-6
  for b in range(2):
    ds = np.zeros(2)
    ds[b] = eps
    fd = (f(x, s + ds) - f(x, s - ds)) / (2 * eps)
    np.testing.assert_allclose(grad_s[b], fd, rtol=1e-5, atol=1e-8)
  direction_x = tf.constant(rng.normal(size=x.shape))
  fd = (f(x + eps * direction_x, s) - f(x - eps * direction_x, s)) / (2 * eps)
  np.testing.assert_allclose(tf.reduce_sum(grad_x * direction_x), fd, rtol=1e-6)
  # The image gradient is the transposed reference interpolation.
  for b in range(2):
    m = 1 / float(s[b]) if direction == "down" else float(s[b])
    rh, rw = (9, 8) if direction == "down" else size
    my = _reference_matrix(size[0], 9, rh, m, -0.75, True)
    mx = _reference_matrix(size[1], 8, rw, m, -0.75, True)
    np.testing.assert_allclose(grad_x[b], np.einsum("oh,opc,pw->hwc", my, probe[b], mx),
                               atol=1e-10)


def test_resampler_dynamic_shapes_in_graph():
  down = BicubicResampler("down")
  up = BicubicResampler("up")

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3]), tf.TensorSpec([None])])
  def round_trip(x, s):
    shape = tf.shape(x)
    small = down(x, s, scaled_size(shape[1], shape[2], tf.reduce_max(s), 4))
    return small, up(small, s, shape[1:3])

  for shape, s in [((1, 17, 23, 3), [0.5]), ((2, 8, 5, 3), [0.3, 0.9])]:
    small, back = round_trip(tf.random.uniform(shape), tf.constant(s))
    assert back.shape == shape
    assert tuple(small.shape[1:3]) == scaled_size(shape[1], shape[2], max(s), 4)


def test_scaled_size():
  assert scaled_size(768, 512, 0.5) == (384, 256)
  assert scaled_size(768, 512, 0.6, 64) == (512, 320)  # 460.8 x 307.2, padded up
  assert scaled_size(100, 30, 0.25, 64) == (64, 64)  # at least one multiple
  assert scaled_size(10, 10, 0.3) == (3, 3)  # no float-error bump to 4
  assert scaled_size(7, 9, 1.0, 2) == (8, 10)
  assert scaled_size(np.int64(768), 512, np.float32(0.5)) == (384, 256)
  got = scaled_size(tf.constant(768), tf.constant(512), tf.constant(0.6), 64)
  assert got.numpy().tolist() == [512, 320]


def test_keys_kernel():
  t = tf.constant([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], tf.float64)
  np.testing.assert_allclose(keys_cubic(t), [_keys(v, -0.75) for v in t.numpy()])
  shifts = np.linspace(0, 1, 7)[:, None] + np.arange(-2, 3)[None]
  np.testing.assert_allclose(tf.reduce_sum(keys_cubic(shifts), -1), 1.0, atol=1e-12)


# -- resize parameter network -------------------------------------------------------------------
@pytest.mark.parametrize("images", [
    np.zeros((1, 16, 16, 3)), np.full((2, 9, 13, 3), 255.0), np.full((1, 1, 1, 3), 77.0),
    np.full((1, 8, 8, 3), 1e30), np.full((1, 8, 8, 3), np.inf), -np.ones((1, 4, 4, 3)),
    np.random.default_rng(0).uniform(0, 255, (3, 5, 31, 3)), np.zeros((1, 256, 384, 3)),
])
def test_resize_net_range_and_no_nan(images):
  rpn = ResizeParameterNetwork()
  s = rpn(images.astype(np.float32))
  assert s.shape == (images.shape[0],)
  np.testing.assert_allclose(s, 0.95, rtol=1e-6)  # zero-initialized head: s starts at 0.95
  _randomize(rpn, seed=3)
  rpn.head.set_weights([np.full((32, 1), 1e4, np.float32), np.zeros(1, np.float32)])
  s = rpn(images.astype(np.float32)).numpy()
  assert np.all(np.isfinite(s)) and np.all((s >= 0.25) & (s <= 1.0))


def test_resize_net_per_image_and_trains_through_resampler():
  rpn = ResizeParameterNetwork(s_min=0.5)
  x = tf.random.uniform((2, 24, 20, 3), 0, 255)
  rpn(x)
  _randomize(rpn, seed=4)
  with tf.GradientTape() as tape:
    s = rpn(x)
    small = BicubicResampler("down")(x, s, (16, 16))
    back = BicubicResampler("up")(small, s, (24, 20))
    loss = tf.reduce_mean(tf.square(back - x))
  assert s.shape == (2,) and abs(float(s[0] - s[1])) > 0
  grads = tape.gradient(loss, rpn.trainable_variables)
  assert all(g is not None and np.all(np.isfinite(g)) for g in grads)
  grads = {v.name: g for v, g in zip(rpn.trainable_variables, grads)}
  head_bias = [g for name, g in grads.items() if "head" in name and "bias" in name]
  assert np.abs(head_bias[0]).max() > 0  # the head gets a gradient through s


# -- Swin slice transform -----------------------------------------------------------------------
def test_ict_head_dims():
  widths = [32, 64, 96, 128, 160, 192]
  assert [ict_head_dim(w) for w in widths] == [4, 8, 16, 16, 32, 32]
  for w in [8, 12, 15, 20, 40, 48, 320, 7]:
    d = ict_head_dim(w)
    assert w % d == 0 and w // d <= 8


def _swin_transform_params(width, heads, out=32):
  block = 12 * width ** 2 + 13 * width + 49 * heads
  return 2 * block + 9 * width * out + out


@pytest.mark.parametrize("shape", [(1, 3, 5), (2, 4, 4), (1, 9, 6), (1, 1, 1)])
def test_swin_slice_transform_shapes_and_finite(shape):
  layer = build_slice_transform("swin", 64, 32, name="t")
  assert isinstance(layer, SwinSliceTransform)
  y = layer(tf.random.normal((*shape, 64)))
  assert y.shape == (*shape, 32) and np.all(np.isfinite(y))
  assert _count(layer) == _swin_transform_params(64, 8)
  with pytest.raises(ValueError):
    SwinSliceTransform(64, 32)(tf.zeros((1, 4, 4, 48)))


@pytest.mark.slow
def test_ict_prior_parameter_count():
  prior = ChannelARPrior(320, num_slices=10, slice_transform="swin", max_support=5)
  y = tf.random.normal((1, 5, 3, 320))
  params = tf.random.normal((1, 5, 3, 640))
  y_hat, bits = prior.forward(y, params, training=True)
  assert y_hat.shape == y.shape and np.all(np.isfinite(y_hat)) and np.isfinite(float(bits[0]))
  widths = [32 * (min(s, 5) + 1) for s in range(10)]
  assert [t.in_channels for t in prior.mean_transforms] == widths
  assert [t.head_dim for t in prior.scale_transforms] == [4, 8, 16, 16, 32] + [32] * 5
  expected = 2 * sum(_swin_transform_params(w, w // ict_head_dim(w)) for w in widths)
  count = _count(prior)
  assert count == expected == 12_468_420
  total = SWINT_CHARM_WITHOUT_PRIOR + count
  assert abs(total - ICT_PAPER_PARAMS) / ICT_PAPER_PARAMS < 0.015
