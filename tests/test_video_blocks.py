"""Video building blocks: scale-space warp, video bitstream, frame IO, metrics, x264/x265 anchors.

Everything runs on tiny generated clips in tmp_path; the ffmpeg tests skip if it is absent.
"""
import io
import os
import shutil
import struct
import subprocess
import time
import tracemalloc
import zlib
from fractions import Fraction

import numpy as np
import pytest
import tensorflow as tf

from tfc_swin import bitstream as image_bitstream
from tfc_swin.bitstream import BitstreamError
from tfc_swin.eval.metrics import psnr
from tfc_swin.layers import ScaleSpaceWarp
from tfc_swin.layers.scale_space_flow import (gaussian_blur, gaussian_kernel, level_sigmas,
                                              scale_space_volume)
from tfc_swin.video import anchors, frames, metrics
from tfc_swin.video import bitstream as vb

HAVE_FFMPEG = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed "
                                  "(apt-get install ffmpeg)")


def make_clip(num_frames=5, height=48, width=64, seed=0, texture=True):
  """Moving colour gradients plus a moving textured square: uint8 RGB frames."""
  rng = np.random.default_rng(seed)
  texture = rng.integers(0, 255, (12, 12, 3)) if texture else None
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  clip = []
  for t in range(num_frames):
    frame = np.stack([128 + 90 * np.sin((x + 2 * t) / 9 + c) * np.cos((y - t) / 11 - c)
                      for c in range(3)], -1)
    top, left = 10 + t, 8 + 3 * t
    if texture is not None:
      patch = frame[top:top + 12, left:left + 12]
      patch[...] = texture[:patch.shape[0], :patch.shape[1]]
    clip.append(np.clip(np.round(frame), 0, 255).astype(np.uint8))
  return clip


class ListSource(frames.FrameSource):
  """An in-memory frame source."""

  def __init__(self, clip, frame_rate=25):
    self.clip = clip
    self.height, self.width = clip[0].shape[:2]
    self.num_frames = len(clip)
    self.frame_rate = Fraction(frame_rate)

  def __iter__(self):
    return iter(self.clip)


# -- ScaleSpaceWarp ----------------------------------------------------------------------------


def np_blur(image, sigma):
  """Direct separable Gaussian with clamped (edge-replicate) indices, loops."""
  if sigma == 0:
    return image.copy()
  taps = gaussian_kernel(sigma)
  radius = len(taps) // 2
  height, width = image.shape[:2]
  rows = np.zeros_like(image)
  for i in range(height):
    for t in range(-radius, radius + 1):
      rows[i] += taps[t + radius] * image[min(max(i + t, 0), height - 1)]
  out = np.zeros_like(image)
  for j in range(width):
    for t in range(-radius, radius + 1):
      out[:, j] += taps[t + radius] * rows[:, min(max(j + t, 0), width - 1)]
  return out


def np_warp(reference, flow, num_levels=5, sigma0=1.5):  # num_levels = M blurred levels
  """Trilinear scale-space warp by loops, per the definition in Agustsson et al. sec. 3.2."""
  batch, height, width, _ = reference.shape
  out = np.zeros_like(reference)
  for b in range(batch):
    volume = [np_blur(reference[b], s) for s in level_sigmas(num_levels, sigma0)]
    for i in range(height):
      for j in range(width):
        px = min(max(j + flow[b, i, j, 0], 0), width - 1)
        py = min(max(i + flow[b, i, j, 1], 0), height - 1)
        pz = min(max(flow[b, i, j, 2], 0), num_levels)
        x0, y0, z0 = int(np.floor(px)), int(np.floor(py)), int(np.floor(pz))
        value = 0
        for z, wz in ((z0, 1 - (pz - z0)), (min(z0 + 1, num_levels), pz - z0)):
          for y, wy in ((y0, 1 - (py - y0)), (min(y0 + 1, height - 1), py - y0)):
            for x, wx in ((x0, 1 - (px - x0)), (min(x0 + 1, width - 1), px - x0)):
              value = value + wz * wy * wx * volume[z][y, x]
        out[b, i, j] = value
  return out


def test_gaussian_kernel_and_levels():
  assert level_sigmas() == [0.0, 1.5, 3.0, 6.0, 12.0, 24.0]  # M = 5 blurred levels
  assert level_sigmas(0) == [0.0]
  taps = gaussian_kernel(1.5)
  assert len(taps) == 11 and abs(taps.sum() - 1) < 1e-12 and taps.argmax() == 5


@pytest.mark.parametrize("shape", [(2, 9, 13, 2), (1, 4, 3, 1)])  # (1, 4, 3): kernels > frame
def test_volume_matches_numpy(shape):
  image = np.random.default_rng(1).uniform(0, 1, shape)
  volume = scale_space_volume(tf.constant(image)).numpy()
  assert volume.shape == (shape[0], 6) + shape[1:]
  for b in range(shape[0]):
    for level, sigma in enumerate(level_sigmas()):
      np.testing.assert_allclose(volume[b, level], np_blur(image[b], sigma), atol=1e-12)


def test_warp_matches_numpy_reference():
  rng = np.random.default_rng(2)
  reference = rng.uniform(0, 255, (2, 7, 9, 3))
  flow = np.concatenate([rng.uniform(-4, 4, (2, 7, 9, 2)),  # some samples fall outside
                         rng.uniform(-1, 6.5, (2, 7, 9, 1))], -1)  # scale clamped to [0, 5]
  out = ScaleSpaceWarp(dtype="float64")(tf.constant(reference), tf.constant(flow)).numpy()
  np.testing.assert_allclose(out, np_warp(reference, flow), rtol=1e-10, atol=1e-9)


def test_zero_flow_and_integer_shifts_are_exact():
  reference = tf.random.uniform((2, 16, 20, 3), 0, 255, seed=3)
  layer = ScaleSpaceWarp()
  np.testing.assert_array_equal(layer(reference, tf.zeros((2, 16, 20, 3))), reference)
  shift = np.zeros((2, 16, 20, 3), np.float32)
  shift[..., 0] = 2  # sample two pixels to the right; the last columns clamp
  shift[..., 1] = -1  # and one row up
  out = layer(reference, tf.constant(shift)).numpy()
  ref = reference.numpy()
  np.testing.assert_array_equal(out[:, 1:, :-2], ref[:, :-1, 2:])
  np.testing.assert_array_equal(out[:, 0, :-2], ref[:, 0, 2:])
  np.testing.assert_array_equal(out[:, 1:, -1], ref[:, :-1, -1])


def test_scale_coordinate_interpolates_levels():
  reference = tf.random.uniform((1, 12, 10, 3), seed=4)
  layer = ScaleSpaceWarp()
  volume = layer.scale_space(reference).numpy()
  for z, expected in [(2.0, volume[:, 2]), (1.25, 0.75 * volume[:, 1] + 0.25 * volume[:, 2]),
                      (9.0, volume[:, 5]), (-3.0, volume[:, 0])]:
    flow = tf.concat([tf.zeros((1, 12, 10, 2)), tf.fill((1, 12, 10, 1), z)], -1)
    np.testing.assert_allclose(layer(reference, flow), expected, atol=1e-5)


def test_gradients_match_finite_differences():
  rng = np.random.default_rng(5)
  shape = (2, 6, 7, 3)
  reference = rng.uniform(0, 1, shape)
  # Fractional parts in [0.2, 0.8] keep the finite differences away from grid lines, and the
  # sample positions stay inside the frame (no clamping kinks).
  flow = np.concatenate([rng.integers(-2, 3, shape[:3] + (2,)),
                         rng.integers(0, 5, shape[:3] + (1,))], -1).astype(np.float64)
  flow += rng.uniform(0.2, 0.8, flow.shape)
  rows, cols = np.mgrid[0:6, 0:7]
  flow[..., 0] = np.clip(cols + flow[..., 0], 0.3, 5.7) - cols
  flow[..., 1] = np.clip(rows + flow[..., 1], 0.3, 4.7) - rows
  weights = tf.constant(rng.normal(size=shape))
  layer = ScaleSpaceWarp(dtype="float64")
  loss = tf.function(lambda r, f: tf.reduce_sum(weights * layer(r, f)))
  x, g = tf.constant(reference), tf.constant(flow)
  with tf.GradientTape() as tape:
    tape.watch([x, g])
    value = loss(x, g)
  grad_x, grad_g = tape.gradient(value, [x, g])
  assert np.abs(grad_x).sum() > 0 and np.abs(grad_g.numpy()[..., 2]).sum() > 0
  eps = 1e-6
  for _ in range(3):  # directional derivatives along random directions
    for grad, perturb in ((grad_x, lambda d: (x + d, g)), (grad_g, lambda d: (x, g + d))):
      direction = tf.constant(rng.normal(size=shape))
      numeric = (loss(*perturb(eps * direction)) - loss(*perturb(-eps * direction))) / (2 * eps)
      assert float(numeric) == pytest.approx(float(tf.reduce_sum(grad * direction)), rel=1e-6,
                                             abs=1e-6)
  # Element-wise check of a few flow entries, each of the three channels.
  for b, i, j, c in [(0, 0, 0, 0), (1, 5, 6, 1), (0, 3, 2, 2), (1, 2, 4, 2), (0, 4, 1, 0)]:
    bump = np.zeros(shape)
    bump[b, i, j, c] = eps
    numeric = (loss(x, g + bump) - loss(x, g - bump)) / (2 * eps)
    assert float(numeric) == pytest.approx(float(grad_g[b, i, j, c]), rel=1e-6, abs=1e-6)


def test_layer_config_graph_and_pyramid_blur():
  layer = ScaleSpaceWarp(num_levels=4, sigma0=1.0, blur="pyramid", name="warp")
  clone = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
  assert type(clone) is ScaleSpaceWarp and clone.get_config() == layer.get_config()
  with pytest.raises(ValueError):
    ScaleSpaceWarp(blur="box")
  fn = tf.function(ScaleSpaceWarp(), input_signature=[tf.TensorSpec([None, None, None, 3])] * 2)
  for shape in [(1, 9, 10, 3), (2, 3, 17, 3)]:
    assert fn(tf.random.normal(shape), tf.random.normal(shape)).shape == shape
  # Pyramid levels stay close to the exact blur on a frame (borders included).
  image = tf.constant(np.stack(make_clip(1, 45, 61)).astype(np.float32))
  for sigma in (3.0, 6.0, 12.0, 24.0):
    exact = gaussian_blur(image, sigma).numpy()
    approx = scale_space_volume(image, 5, 1.5, blur="pyramid").numpy()[:, level_sigmas().index(
        sigma)]
    assert approx.shape == exact.shape
    assert np.sqrt(np.mean((approx - exact) ** 2)) < 1.0 and np.abs(approx - exact).max() < 6


# -- video bitstream ---------------------------------------------------------------------------


HEADER = vb.VideoHeader("ssf-test", "conv-ssf-tiny", "0123456789abcdef", 48, 64,
                        Fraction(30000, 1001), 3)
FRAMES = [vb.Frame("I", (b"zz", b"y" * 20), 11), vb.Frame("P", (b"", b"f" * 5, b"r" * 7), 12),
          vb.Frame("P", (b"q",), 0), vb.Frame("I", (b"z", b"y" * 9), 0xFFFFFFFF)]


class Unseekable(io.RawIOBase):
  """A pipe-like stream: read only, no seek, no size."""

  def __init__(self, data):
    self._data, self._pos = data, 0

  def readable(self):
    return True

  def readinto(self, buffer):
    n = min(len(buffer), len(self._data) - self._pos)
    buffer[:n] = self._data[self._pos:self._pos + n]
    self._pos += n
    return n


def read_all(data, seekable=True):
  stream = io.BytesIO(data) if seekable else io.BufferedReader(Unseekable(data))
  reader = vb.VideoReader(stream)
  return reader.header, list(reader)


def test_video_round_trip_streaming(tmp_path):
  data = vb.pack_video(HEADER, FRAMES)
  for seekable in (True, False):
    header, frames_read = read_all(data, seekable)
    assert header == HEADER and frames_read == FRAMES
  header_bytes = len(vb.pack_header(HEADER))
  assert header_bytes + sum(f.num_bytes for f in frames_read) + 6 == len(data)
  assert [f.num_bytes for f in frames_read] == [len(vb.frame_record(f)) for f in FRAMES]
  # Declared frame count, written through a generator to a file, read back lazily.
  declared = vb.VideoHeader(**{**HEADER.__dict__, "frame_count": len(FRAMES)})
  path = str(tmp_path / "clip.tfsv")
  size = vb.write_video(path, declared, (f for f in FRAMES))
  assert size == os.path.getsize(path)
  assert vb.read_header(path) == declared and list(vb.read_frames(path)) == FRAMES
  with pytest.raises(FileExistsError):
    vb.write_video(path, declared, FRAMES)
  vb.write_video(path, HEADER, FRAMES[:1], force=True)
  assert len(list(vb.read_frames(path))) == 1


def test_writer_enforces_structure():
  for bad in ([vb.Frame("P", (b"x",))], FRAMES[:1] + [vb.Frame("P", (b"x",))] * 3, [],
              [vb.Frame("B", (b"x",))], [vb.Frame("I", ())]):
    with pytest.raises(ValueError):
      vb.pack_video(HEADER, bad)
  with pytest.raises(ValueError):  # declared count not met
    vb.pack_video(vb.VideoHeader(**{**HEADER.__dict__, "frame_count": 5}), FRAMES)
  for field, value in [("height", 0), ("width", 1 << 20), ("gop_size", 0),
                       ("fingerprint", "xyz"), ("frame_rate", Fraction(-1))]:
    with pytest.raises(ValueError):
      vb.pack_header(vb.VideoHeader(**{**HEADER.__dict__, field: value}))


@pytest.mark.parametrize("seekable", [True, False])
def test_every_truncation_is_refused(seekable):
  data = vb.pack_video(HEADER, FRAMES)
  for n in range(len(data)):
    with pytest.raises(BitstreamError):
      read_all(data[:n], seekable)
  with pytest.raises(BitstreamError, match="trailing"):
    read_all(data + b"\0", seekable)


def test_every_bit_flip_and_random_damage_is_refused():
  data = vb.pack_video(HEADER, FRAMES)
  for bit in range(8 * len(data)):
    damaged = bytearray(data)
    damaged[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(BitstreamError):
      read_all(bytes(damaged))
  rng = np.random.default_rng(6)
  for _ in range(300):
    damaged = bytearray(data)
    for pos in rng.integers(0, len(data), rng.integers(1, 6)):
      damaged[pos] = (damaged[pos] + rng.integers(1, 256)) % 256
    with pytest.raises(BitstreamError):
      read_all(bytes(damaged), seekable=bool(rng.integers(2)))


def _header(height=48, width=64, rate=(25, 1), gop=12, count=0, name_len=None, name=b"m",
            raw_height=None):
  out = bytearray(vb.MAGIC) + bytes([vb.VERSION])
  out += vb.varint(len(name) if name_len is None else name_len) + name
  out += vb.varint(1) + b"c" + bytes(8)
  out += raw_height if raw_height is not None else vb.varint(height)
  for value in (width, rate[0], rate[1], gop, count):
    out += vb.varint(value)
  return bytes(out + struct.pack(">I", zlib.crc32(out)))


def _record(frame_type=0, strings=(b"abc",), payload=None, size=None):
  if payload is None:
    payload = vb.varint(len(strings)) + b"".join(vb.varint(len(s)) + s for s in strings)
  out = bytearray([frame_type]) + bytes(4) + vb.varint(len(payload) if size is None else size)
  out += payload
  return bytes(out + struct.pack(">I", zlib.crc32(out)))


def _file(header, *records, count=None):
  body = header + b"".join(records)
  body += bytes([vb.END_MARKER]) + vb.varint(len(records) if count is None else count)
  return body + struct.pack(">I", zlib.crc32(body))


CRAFTED = {
    "valid": _file(_header(), _record()),
    "huge height": _file(_header(height=1 << 40), _record()),
    "huge frame": _file(_header(height=30000, width=30000), _record()),
    "zero width": _file(_header(width=0), _record()),
    "zero rate": _file(_header(rate=(0, 1)), _record()),
    "zero rate denominator": _file(_header(rate=(25, 0)), _record()),
    "zero GOP": _file(_header(gop=0), _record()),
    "huge GOP": _file(_header(gop=1 << 40), _record()),
    "huge frame count": _file(_header(count=(1 << 32) - 1), _record()),
    "frame count 2^63": _file(_header(count=1 << 63), _record()),
    "huge name": _header(name_len=1 << 60) + bytes(16),
    "control character in name": _file(_header(name=b"m\x1b[2J"), _record()),
    "non-minimal varint": _file(_header(raw_height=b"\xb0\x80\x00"), _record()),
    "11-byte varint": _file(_header(raw_height=b"\xff" * 10 + b"\x01"), _record()),
    "huge payload size": _file(_header(), _record(payload=b"\x01\x01a", size=(1 << 62))),
    "payload size 1 GiB": _file(_header(), _record(payload=b"\x01\x01a", size=(1 << 30) - 1)),
    "huge string count": _file(_header(), _record(payload=vb.varint(1 << 40) + b"\x00")),
    "zero strings": _file(_header(), _record(payload=b"\x00")),
    "string overruns payload": _file(_header(), _record(payload=b"\x01\x09abc")),
    "huge string length": _file(_header(), _record(payload=b"\x01" + vb.varint(1 << 50))),
    "payload trailing bytes": _file(_header(), _record(payload=b"\x01\x01ab")),
    "unknown frame type": _file(_header(), _record(frame_type=7)),
    "first frame P": _file(_header(), _record(frame_type=1)),
    "too many P frames": _file(_header(gop=2), _record(), _record(1), _record(1)),
    "trailer count low": _file(_header(), _record(), _record(1), count=1),
    "trailer count huge": _file(_header(), _record(), count=1 << 60),
    "more frames than declared": _file(_header(count=1), _record(), _record(1)),
    "fewer frames than declared": _file(_header(count=2), _record()),
    "no frames": _file(_header(), count=0),
    "image file": image_bitstream.pack(image_bitstream.Bitstream(
        image_bitstream.Header("m", "c", "00" * 8, 4, 4), [b"z", b"y"])),
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
@pytest.mark.parametrize("seekable", [True, False])
def test_crafted_valid_crc_mutations_are_refused_cheaply(name, seekable):
  data = CRAFTED[name]
  if name == "valid":
    header, frames_read = read_all(data, seekable)
    assert header.height == 48 and frames_read[0].strings == (b"abc",)
    return
  tracemalloc.start()
  start = time.perf_counter()
  try:
    with pytest.raises(BitstreamError) as error:
      read_all(data, seekable)
    peak = tracemalloc.get_traced_memory()[1]
  finally:
    tracemalloc.stop()
  message = str(error.value)
  assert "\n" not in message and message
  unsupported = name == "image file"
  assert isinstance(error.value, vb.UnsupportedVideoError if unsupported else vb.CorruptVideoError)
  image_class = getattr(image_bitstream, "UnsupportedFileError" if unsupported else
                        "CorruptFileError", BitstreamError)
  assert isinstance(error.value, image_class)
  assert time.perf_counter() - start < 0.5 and peak < (2 << 20), (message, peak)
  if name == "image file":
    assert "image file" in message
    with pytest.raises(BitstreamError, match="magic"):
      image_bitstream.unpack(CRAFTED["valid"])


# -- frames, conversion, metrics ---------------------------------------------------------------


def test_yuv_conversion_round_trip_and_odd_sizes():
  clip = make_clip(2, texture=False)
  for rgb in clip:
    y, u, v = frames.rgb_to_yuv420(rgb)
    assert y.shape == (48, 64) and u.shape == v.shape == (24, 32)
    assert 16 <= y.min() and y.max() <= 235
    assert psnr(rgb, frames.yuv420_to_rgb(y, u, v, method="exact")) > 38
    assert psnr(rgb, frames.yuv420_to_rgb(y, u, v)) > 35
  gray = np.full((5, 7, 3), 200, np.uint8)
  y, u, v = frames.rgb_to_yuv420(gray)
  assert u.shape == (3, 4) and np.all(u == 128) and np.all(v == 128)
  assert np.all(y == round(16 + 219 * 200 / 255))
  assert np.abs(frames.yuv420_to_rgb(y, u, v, method="exact").astype(int) - 200).max() <= 1
  with pytest.raises(ValueError):
    frames.yuv420_to_rgb(y, u[:2], v)


@needs_ffmpeg
@pytest.mark.parametrize("size", [(48, 64), (30, 42), (48, 63)])  # even heights, see frames.py
def test_yuv_to_rgb_matches_ffmpeg(tmp_path, size):
  height, width = size
  rng = np.random.default_rng(7)
  clip = [frames.rgb_to_yuv420(f) for f in make_clip(3, height, width)]
  ch, cw = frames.chroma_size(height, width)
  clip.append((rng.integers(0, 256, (height, width), dtype=np.uint8),
               rng.integers(0, 256, (ch, cw), dtype=np.uint8),
               rng.integers(0, 256, (ch, cw), dtype=np.uint8)))
  path = str(tmp_path / "clip.yuv")
  assert frames.write_yuv420(clip, path) == 4
  out = subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s",
                        f"{width}x{height}", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24",
                        "-"], capture_output=True, check=True).stdout
  reference = np.frombuffer(out, np.uint8).reshape(4, height, width, 3).astype(int)
  ours = np.stack(list(frames.YUVFrames(path, width, height))).astype(int)
  assert np.abs(ours - reference).max() <= 1
  # The FFmpegFrames source gives ffmpeg's own conversion and the same planes.
  nut = str(tmp_path / "clip.nut")
  subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s",
                  f"{width}x{height}", "-r", "24", "-i", path, "-c:v", "rawvideo", nut],
                 check=True)
  source = frames.FFmpegFrames(nut)
  assert (source.width, source.height, source.frame_rate) == (width, height, 24)
  np.testing.assert_array_equal(np.stack(list(source)), reference)
  for got, want in zip(source.iter_yuv(), frames.YUVFrames(path, width, height).iter_yuv(),
                       strict=True):
    for a, b in zip(got, want):
      np.testing.assert_array_equal(a, b)


def test_parse_size():
  assert frames.parse_size("416x240") == (416, 240) == frames.parse_size("416X240")
  assert frames.parse_size(None) == (None, None)
  with pytest.raises(frames.FrameSourceError, match="WIDTHxHEIGHT"):
    frames.parse_size("416")


def test_yuv_files_and_errors(tmp_path):
  clip = make_clip(4)
  path = str(tmp_path / "clip.yuv")
  assert frames.write_yuv420(iter(clip), path) == 4
  assert os.path.getsize(path) == 4 * frames.yuv420_frame_bytes(48, 64) == 4 * 4608
  source = frames.open_frames(path, 64, 48, frame_rate="30000/1001")
  assert isinstance(source, frames.YUVFrames) and source.num_frames == 4
  assert source.frame_rate == Fraction(30000, 1001)
  for planes, rgb in zip(source.iter_yuv(), clip, strict=True):
    for a, b in zip(planes, frames.rgb_to_yuv420(rgb)):
      np.testing.assert_array_equal(a, b)
  assert len(list(source)) == 4 and len(list(source)) == 4  # re-iterable
  with pytest.raises(FileExistsError):
    frames.write_yuv420(clip, path)
  with pytest.raises(frames.FrameSourceError, match="not a multiple"):
    frames.YUVFrames(path, 62, 48)
  with pytest.raises(frames.FrameSourceError, match="width and height"):
    frames.open_frames(path)
  (tmp_path / "empty.yuv").write_bytes(b"")
  with pytest.raises(frames.FrameSourceError, match="empty"):
    frames.YUVFrames(str(tmp_path / "empty.yuv"), 64, 48)
  with pytest.raises(ValueError, match="no frames"):
    frames.write_yuv420([], str(tmp_path / "none.yuv"))
  assert not os.path.exists(tmp_path / "none.yuv")


def test_png_folders(tmp_path):
  clip = make_clip(11, 20, 24)
  folder = str(tmp_path / "out")
  assert frames.write_png_frames(clip, folder, name_format="f{}.png") == 11  # f1 .. f11
  source = frames.open_frames(folder, frame_rate=50)
  assert isinstance(source, frames.FolderFrames) and source.num_frames == 11
  assert os.path.basename(source.paths[1]) == "f2.png"  # natural order, not f10
  for got, want in zip(source, clip, strict=True):
    np.testing.assert_array_equal(got, want)
  with pytest.raises(FileExistsError):
    frames.write_png_frames(clip[:1], folder, name_format="f{}.png")
  frames.write_png_frames(clip[1:2], folder, name_format="f{}.png", force=True)
  np.testing.assert_array_equal(next(iter(source)), clip[1])
  assert not [n for n in os.listdir(folder) if n.endswith(".part")]
  os.makedirs(tmp_path / "empty")
  with pytest.raises(frames.FrameSourceError, match="no image frames"):
    frames.FolderFrames(str(tmp_path / "empty"))
  with pytest.raises(frames.FrameSourceError, match="no such folder"):
    frames.FolderFrames(str(tmp_path / "missing"))
  frames.write_png_frames([make_clip(1, 8, 8)[0]], folder, name_format="f99.png")
  with pytest.raises(frames.FrameSourceError, match="expected 24x20"):
    list(frames.FolderFrames(folder))


def test_missing_ffmpeg_is_reported(tmp_path, monkeypatch):
  monkeypatch.setattr(shutil, "which", lambda name: None)
  (tmp_path / "clip.mkv").write_bytes(b"x")
  with pytest.raises(frames.FFmpegNotFoundError, match="install ffmpeg"):
    frames.FFmpegFrames(str(tmp_path / "clip.mkv"))
  with pytest.raises(frames.FFmpegNotFoundError):
    anchors.run_anchor(ListSource(make_clip(2)), "x264", [20], work_dir=str(tmp_path))


@needs_ffmpeg
def test_ffmpeg_source_reads_one_frame_at_a_time(tmp_path):
  clip = make_clip(6)
  folder = str(tmp_path / "png")
  frames.write_png_frames(clip, folder)
  video = str(tmp_path / "clip.nut")  # lossless RGB in a container
  subprocess.run(["ffmpeg", "-v", "error", "-framerate", "25", "-i",
                  os.path.join(folder, "f%03d.png"), "-c:v", "rawvideo", "-pix_fmt", "rgb24",
                  video], check=True)
  source = frames.open_frames(video)
  assert isinstance(source, frames.FFmpegFrames)
  assert (source.width, source.height, source.frame_rate) == (64, 48, 25)
  for got, want in zip(source, clip, strict=True):
    np.testing.assert_array_equal(got, want)
  first = iter(source)
  np.testing.assert_array_equal(next(first), clip[0])
  first.close()  # stops (kills) ffmpeg without an error
  (tmp_path / "junk.mkv").write_bytes(b"not a video")
  with pytest.raises(frames.FFmpegError):
    frames.FFmpegFrames(str(tmp_path / "junk.mkv"))


def test_metrics():
  clip = make_clip(3)
  noisy = [np.clip(f.astype(int) + np.random.default_rng(i).integers(-3, 4, f.shape), 0, 255)
           .astype(np.uint8) for i, f in enumerate(clip)]
  m = metrics.frame_metrics(0, clip[0], noisy[0], 300, frame_type="I")
  assert m.psnr_rgb == psnr(clip[0], noisy[0]) and m.bpp == 8 * 300 / (48 * 64)
  assert m.psnr_yuv == pytest.approx((6 * m.psnr_y + m.psnr_u + m.psnr_v) / 8)
  y, u, v = frames.rgb_to_yuv420(clip[0])
  assert metrics.yuv_psnr((y, u, v), (y, u, v))[3] == 100.0
  assert metrics.plane_psnr(y, np.clip(y.astype(int) + 1, 0, 255).astype(np.uint8)) == \
      pytest.approx(10 * np.log10(255 ** 2 / np.mean((np.clip(y.astype(int) + 1, 0, 255) - y)
                                                     ** 2)))
  seq = metrics.evaluate_sequence(clip, noisy, [300, 100, 50], total_bytes=500,
                                  frame_types="IPP")
  assert seq.num_frames == 3 and seq.bpp == pytest.approx(8 * 500 / (48 * 64 * 3))
  assert seq.psnr_rgb == pytest.approx(np.mean(seq.frame_psnr_rgb))
  assert seq.frame_bpp[1] == pytest.approx(8 * 100 / (48 * 64)) and seq.frames[2].frame_type == "P"
  assert metrics.evaluate_sequence(clip, clip, [1, 1, 1]).psnr_yuv == 100.0
  with pytest.raises(ValueError, match="differ in length"):
    metrics.evaluate_sequence(clip, noisy[:2], [1, 2, 3])


# -- x264 / x265 anchors ----------------------------------------------------------------------


def test_paper_command_lines():
  command = anchors.encode_command("x265", 21, 416, 240, Fraction(50), "in.yuv", "out.mkv")
  assert command[3:] == ["-y", "-pix_fmt", "yuv420p", "-s", "416x240", "-r", "50", "-i",
                         "in.yuv", "-c:v", "libx265", "-preset", "medium", "-crf", "21",
                         "-tune", "zerolatency", "-x265-params",
                         "keyint=12:min-keyint=12:verbose=1", "out.mkv"]
  command = anchors.encode_command("x264", 9, 64, 48, "30000/1001", "a.yuv", "b.mkv", threads=1)
  assert command[command.index("-x264-params") + 1] == "keyint=12:min-keyint=12:verbose=1"
  assert "-threads" in command and "30000/1001" in command
  assert anchors.CRFS == (9, 12, 15, 18, 21, 24, 27, 30)


@needs_ffmpeg
@pytest.mark.parametrize("codec", ["x264", "x265"])
def test_anchor_on_tiny_clip(tmp_path, codec):
  clip = make_clip(6)
  source = ListSource(clip)
  results = anchors.run_anchor(source, codec, crfs=(12, 24, 36), threads=1,
                               work_dir=str(tmp_path), keep_dir=str(tmp_path / "keep"))
  assert [r.crf for r in results] == [12, 24, 36]
  for r in results:
    assert r.num_frames == 6 and r.frame_types == "IPPPPP"
    assert r.file_bytes == os.path.getsize(tmp_path / "keep" / f"{codec}_crf{r.crf}.mkv")
    assert 0 < r.stream_bytes < r.file_bytes and r.bpp > r.stream_bpp > 0
    assert len(r.frame_bpp) == len(r.frame_psnr_rgb) == len(r.frame_psnr_yuv) == 6
    assert r.psnr_rgb == pytest.approx(np.mean(r.frame_psnr_rgb))
    assert r.frames[0].num_bytes > r.frames[1].num_bytes  # the I frame costs most
    assert r.encoder.startswith(codec) and r.command[r.command.index("-crf") + 1] == str(r.crf)
    assert r.to_dict()["frames"][0]["frame_type"] == "I"
  bpp = [r.bpp for r in results]
  psnr_yuv = [r.psnr_yuv for r in results]
  psnr_rgb = [r.psnr_rgb for r in results]
  assert bpp[0] > bpp[1] > bpp[2] and psnr_yuv[0] > psnr_yuv[1] > psnr_yuv[2]
  assert psnr_rgb[0] > psnr_rgb[1] > psnr_rgb[2]
  assert 38 < psnr_yuv[0] < 60 and 22 < psnr_yuv[2] < 42 and 0.05 < bpp[2] < bpp[0] < 12
  assert os.listdir(tmp_path) == ["keep"]  # the temporary folder is gone
