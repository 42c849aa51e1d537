"""Decoding files from elsewhere: crafted fields, bombs, error classes, limits, threads, kill -9.

The full stress run is ``experiments/stress_decoder.py`` (numbers in docs/robustness.md); this
file runs a bounded subset of it on two tiny untrained configs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfc_swin import bitstream, cli, image_io
from tfc_swin.api import load_coder, untrained_coder
from tfc_swin.bitstream import (CorruptFileError, NumericsMismatchError, TooLargeError,
                                UnsupportedFileError, WrongModelError)
from tfc_swin.coder import checksum_distance, min_string_bytes
from tfc_swin.isolation import rss_kb
from tfc_swin.priors.gaussian import GaussianConditional
from helpers import REPO, load_experiment, old_export_coder, smooth_image

stress_decoder = load_experiment("stress_decoder")

MODEL = "conv-hyperprior-tiny"
CHARM = "conv-charm-tiny"


@pytest.fixture(scope="module")
def coder():
  return load_coder(MODEL)


@pytest.fixture(scope="module")
def files(coder):
  """Two images of the same size (height 64: +1 row crosses a 64-pixel block) and an RGBA."""
  a, b = smooth_image(64, 96, seed=1), smooth_image(64, 96, seed=2)
  alpha = np.tile(np.arange(96, dtype=np.uint8), (64, 1))
  return {"a": coder.compress_array(a), "b": coder.compress_array(b),
          "rgba": coder.compress_array(a, "RGBA", alpha)}


def crafted(data: bytes, **changes) -> bytes:
  """A file with changed fields and a valid CRC (see stress_decoder.raw_pack)."""
  return stress_decoder.raw_pack({**stress_decoder.fields(data), **changes})


def refuse(coder, data: bytes, error: type, match: str = "", seconds: float = 5.0, **kw):
  t0 = time.perf_counter()
  with pytest.raises(error) as info:
    coder.decompress_array(data, **kw)
  message = str(info.value)
  assert type(info.value) is error, f"{type(info.value).__name__}: {message}"
  assert message and "\n" not in message and match in message, message
  assert time.perf_counter() - t0 < seconds, message
  return message


# -- the scale-index checksum -------------------------------------------------------------------
def test_checksum_uses_the_integer_indexes_of_the_range_coder():
  """quantized_indexes == what TFC's LocationScaleIndexedEntropyModel codes with (clip, then
  truncate), including values next to integers, outside [0, 63], inf and NaN."""
  prior = GaussianConditional(8, num_scales=64)
  model = prior.entropy_model(compression=True)
  grid = np.arange(-2, 66, dtype=np.float32)
  x = np.concatenate([np.random.default_rng(0).uniform(-5, 70, 5000), grid + 0.5,
                      np.nextafter(grid, -np.inf), np.nextafter(grid, np.inf), grid,
                      [np.inf, -np.inf, np.nan, 1e30, -1e30]]).astype(np.float32)
  x = tf.constant(x)
  used = model._flatten_indexes(model._normalize_indexes(x))  # pylint: disable=protected-access
  np.testing.assert_array_equal(prior.quantized_indexes(x).numpy(), used.numpy())
  assert prior.quantized_indexes(tf.constant([2.7, 62.99, 70.0, -1.0])).numpy().tolist() == [
      2, 62, 63, 0]


def test_checksum_distance():
  m = bitstream.CHECKSUM_MODULUS
  assert checksum_distance(5, 3) == checksum_distance(3, 5) == 2
  assert checksum_distance(0, m - 1) == 1


def test_min_string_bytes_holds_for_real_strings(coder):
  """The size floor never refuses a real file: flat images code at the coder's best."""
  for image in (np.zeros((256, 320, 3), np.uint8), np.full((130, 70, 3), 200, np.uint8)):
    stream = bitstream.unpack(coder.compress_array(image))
    coder.decompress_array(bitstream.pack(stream))
  assert min_string_bytes(10) == 0 and min_string_bytes(10 ** 9) > 40_000


# -- the crafted cases of the issue --------------------------------------------------------------
def test_huge_dimensions_are_refused_before_any_model_work(coder, files):
  data = crafted(files["a"], height=65536, width=65536)
  refuse(coder, data, TooLargeError, "pixel limit", seconds=0.5)
  # Without a pixel limit the strings are far too short for 2^32 pixels.
  refuse(coder, data, CorruptFileError, "too few", seconds=0.5, max_pixels=None)
  refuse(coder, crafted(files["a"], height=2 ** 63), CorruptFileError, "outside 1..")
  refuse(coder, crafted(files["a"], height=2 ** 70), CorruptFileError, "bad height field")
  refuse(coder, crafted(files["a"], width=0), CorruptFileError, "outside 1..")


def test_alpha_bomb_is_refused_without_inflating_it(coder, files):
  bomb = stress_decoder.alpha_bomb(1 << 31)  # 2 GiB of zeros in 2 MB
  assert len(bomb) < 3 << 20
  small = stress_decoder.alpha_bomb(1 << 22)
  assert zlib.decompress(small) == bytes(1 << 22)
  before = rss_kb()
  refuse(coder, crafted(files["rgba"], alpha=bomb), CorruptFileError, "inflates to more",
         seconds=1.0)
  assert rss_kb() - before < 50_000
  for alpha, match in ((b"x" * 40, "bad alpha"), (zlib.compress(bytes(10)), "cut short"),
                       (zlib.compress(bytes(64 * 96)) + b"\0", "trailing")):
    refuse(coder, crafted(files["rgba"], alpha=alpha), CorruptFileError, match)


def test_string_count_and_empty_strings(coder, files):
  f = stress_decoder.fields(files["a"])
  refuse(coder, crafted(files["a"], strings=f["strings"] + [b"extra"]), CorruptFileError,
         "3 entropy-coded strings")
  refuse(coder, crafted(files["a"], strings=f["strings"][:1]), CorruptFileError, "reads 2")
  refuse(coder, crafted(files["a"], strings=[f["strings"][0], b""]), CorruptFileError,
         "string 1 is empty")
  refuse(coder, crafted(files["a"], count=0, strings=[]), CorruptFileError, "no entropy")


def test_height_changed_by_one_row_is_corruption_not_numerics(coder, files):
  header = bitstream.unpack(files["a"]).header
  assert (header.height, header.width) == (64, 96)  # Padded to 64 x 128.
  for changes in ({"height": 65}, {"width": 129}, {"height": 128}, {"height": 65, "width": 97}):
    refuse(coder, crafted(files["a"], **changes), CorruptFileError, "does not match its coded")
  refuse(coder, crafted(files["a"], width=60), CorruptFileError,
         "hyper-latent string z does not decode")
  # A smaller size inside the same 64-pixel block is a valid file: a cropped image.
  image = coder.decompress_array(crafted(files["a"], height=header.height - 1))[0]
  assert image.shape == (header.height - 1, header.width, 3)


def test_numerics_mismatch_is_reported_as_numerics(coder, files):
  """An intact file whose decoder derives slightly different indexes (simulated: the
  header's checksum moved by what one index moving by one does)."""
  checksum = bitstream.unpack(files["a"]).header.index_checksum
  for delta in (1, -1, 65521, 3 * 40_000):
    message = refuse(coder, crafted(files["a"], checksum=(checksum + delta)
                                    % bitstream.CHECKSUM_MODULUS), NumericsMismatchError,
                     "different scale indexes")
    assert "corrupt" not in message
  refuse(coder, crafted(files["a"], checksum=(checksum + 2 ** 30) % bitstream.CHECKSUM_MODULUS),
         CorruptFileError, "does not match its header")
  refuse(coder, crafted(files["a"], checksum=2 ** 31 - 1), CorruptFileError, "out of range")


# -- per-slice checksums (format version 2) --------------------------------------------------------
@pytest.fixture(scope="module")
def charm_files():
  """A ChARM file (3 latent slices) in format version 2 and, from the same model exported
  without per-slice checksums, in version 1."""
  image = smooth_image(64, 96, seed=1)
  charm = load_coder(CHARM)
  return {2: charm.compress_array(image), 1: old_export_coder(charm).compress_array(image)}


def drifted_coder(slice_index: int, positions: list[int], amount: float = 30.0):
  """conv-charm-tiny (the same weights) whose decoder derives the scale indexes of one latent
  slice differently at a few positions: what float drift between machines does."""
  coder = untrained_coder(CHARM)
  prior = coder.model.prior
  original = prior._slice_params  # pylint: disable=protected-access

  def drifted(s, mean, index, decoded):
    mu, sigma = original(s, mean, index, decoded)
    if s != slice_index:
      return mu, sigma
    flat = tf.reshape(sigma, [-1])
    bump = tf.scatter_nd([[p] for p in positions], tf.fill([len(positions)], amount),
                         tf.shape(flat))
    return mu, tf.reshape(flat + bump, tf.shape(sigma))

  prior._slice_params = drifted  # pylint: disable=protected-access
  coder.model.prepare_for_compression()  # Traces the coding graphs with the drift.
  return coder


def test_charm_files_carry_one_checksum_per_slice(coder, files, charm_files):
  header = bitstream.unpack(charm_files[2]).header
  assert header.version == 2 and header.tile_side == 0 and len(header.checksums()) == 3
  assert bitstream.unpack(charm_files[1]).header.version == 1
  assert bitstream.unpack(files["a"]).header.version == 1  # One latent slice: version 1.
  charm = load_coder(CHARM)
  for data in charm_files.values():  # This build reads both.
    assert charm.decompress_array(data)[0].shape == (64, 96, 3)
  assert old_export_coder(charm).decompress_array(charm_files[1])[0].shape == (64, 96, 3)
  refuse(old_export_coder(charm), charm_files[2], UnsupportedFileError, "exported without")


@pytest.mark.slow  # About 5 s each: builds and traces a codec.
@pytest.mark.parametrize("slice_index", [0, 1])
def test_charm_drift_in_one_slice_is_numerics_with_per_slice_checksums(charm_files,
                                                                       slice_index):
  """The drift desynchronizes the range decoder (sanity check fails): version 2 names the
  slice as numerics; version 1's single checksum can only call it corrupted."""
  decoder = drifted_coder(slice_index, [0, 5])
  message = refuse(decoder, charm_files[2], NumericsMismatchError,
                   f"different scale indexes than the encoder in latent slice {slice_index}")
  assert "corrupt" not in message
  refuse(decoder, charm_files[1], CorruptFileError, "a latent string y does not decode")


def test_charm_changed_strings_are_corruption_with_per_slice_checksums(charm_files):
  charm = load_coder(CHARM)
  f = stress_decoder.fields(charm_files[2])
  z, y0, y1, y2 = f["strings"]
  refuse(charm, crafted(charm_files[2], strings=[z, y0, y1 + b"\x01", y2]), CorruptFileError,
         "latent string y1 does not decode with the encoder's scale indexes")
  refuse(charm, crafted(charm_files[2], strings=[z + b"\x01", y0, y1, y2]), CorruptFileError,
         "hyper-latent string z")
  (checks,) = f["checksums"]
  refuse(charm, crafted(charm_files[2], checksums=[[checks[0], checks[1] + 1, checks[2]]]),
         NumericsMismatchError, "in latent slice 1")
  far = [checks[0], checks[1], checks[2] ^ 1 << 30]
  refuse(charm, crafted(charm_files[2], checksums=[far]), CorruptFileError,
         "scale indexes in latent slice 2 are nowhere near")
  refuse(charm, crafted(charm_files[2], checksums=[checks[:2]]), CorruptFileError,
         "2 slice checksums for 3 latent slices")
  refuse(charm, crafted(charm_files[2], checksums=[checks + [1]]), CorruptFileError,
         "4 slice checksums for 4 entropy-coded strings per tile")


# -- tiles (format version 2) -------------------------------------------------------------------
def test_tiles_are_coded_on_their_own(coder):
  image = smooth_image(150, 200, seed=4)
  data = coder.compress_array(image, tile_side=64)
  header = bitstream.unpack(data).header
  assert (header.version, header.tile_side, header.tile_count) == (2, 64, 12)
  decoded = coder.decompress_array(data)[0]
  assert decoded.shape == image.shape
  for top, left, h, w in header.tiles():  # Each tile decodes as the image of that tile alone.
    alone = coder.decompress_array(coder.compress_array(image[top:top + h, left:left + w]))[0]
    np.testing.assert_array_equal(decoded[top:top + h, left:left + w], alone)
  untiled = coder.compress_array(image)
  assert bitstream.unpack(untiled).header.version == 1 and untiled == coder.compress_array(
      image, tile_side=0)


def test_default_tiling_starts_above_the_untiled_limit():
  from tfc_swin.coder import (DEFAULT_TILE_SIDE, MAX_UNTILED_PIXELS,  # pylint: disable=C0415
                              default_tile_side)
  assert default_tile_side(1536, 2048) == 0 == default_tile_side(1, MAX_UNTILED_PIXELS)
  assert default_tile_side(2160, 3840) == DEFAULT_TILE_SIDE == default_tile_side(
      1, MAX_UNTILED_PIXELS + 1)
  assert DEFAULT_TILE_SIDE % 64 == 0


def test_tiled_charm_files_and_errors_name_the_tile(coder):
  charm = load_coder(CHARM)
  image = smooth_image(100, 130, seed=5)
  data = charm.compress_array(image, tile_side=64)
  header = bitstream.unpack(data).header
  assert header.tile_count == 6 and {len(c) for c in header.tile_checksums} == {3}
  assert charm.decompress_array(data)[0].shape == image.shape
  f = stress_decoder.fields(data)
  strings = list(f["strings"])
  strings[4 * 5 + 2] += b"\x01"  # Tile 6 (bottom right): its y1.
  refuse(charm, crafted(data, strings=strings), CorruptFileError,
         "y1 does not decode with the encoder's scale indexes (range decoder sanity check)) "
         "(tile 6 of 6, at x=128, y=64)")
  refuse(charm, crafted(data, strings=strings[:-1]), CorruptFileError,
         "3 slice checksums for 3 entropy-coded strings per tile")
  refuse(charm, crafted(data, strings=strings[:-1], count=4), CorruptFileError,
         "string 23 length runs past the end of the file")
  refuse(charm, crafted(data, tile_side=96), CorruptFileError, "not a multiple of 64")
  refuse(charm, crafted(data, tile_side=128), CorruptFileError, "file is corrupted")
  with pytest.raises(ValueError, match="multiple of 64"):
    coder.compress_array(image, tile_side=100)


def test_large_images_experiment_makes_its_image(tmp_path):
  large_images = load_experiment("large_images")
  photo = tmp_path / "photo.png"
  Image.fromarray(smooth_image(20, 30)).save(photo)
  image = large_images.make_image(str(photo), 160, 90)
  assert image.shape == (90, 160, 3) and image.dtype == np.uint8


@pytest.mark.slow
def test_large_images_experiment_measures_tiled_and_untiled(tmp_path):
  out = tmp_path / "large.json"
  photo = tmp_path / "photo.png"
  Image.fromarray(smooth_image(20, 30)).save(photo)
  proc = subprocess.run(
      [sys.executable, str(REPO / "experiments" / "large_images.py"), f"--image={photo}",
       f"--models={MODEL}", "--sizes=200x130", "--tile_sides=0,64", f"--output={out}"],
      capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  untiled, tiled = json.loads(out.read_text())["rows"]
  assert untiled["tile_side"] == "0" and tiled["tile_side"] == "64"
  for row in (untiled, tiled):
    assert row["psnr"] > 0 and row["decompress_peak_mb"] >= row["loaded_mb"] > 100
  assert tiled["bytes"] > untiled["bytes"]


def test_garbage_strings_are_corruption(coder, files):
  z, y = stress_decoder.fields(files["a"])["strings"]
  refuse(coder, crafted(files["a"], strings=[z, y + b"\x01"]), CorruptFileError,
         "latent string y does not decode")
  refuse(coder, crafted(files["a"], strings=[z + b"\x01", y]), CorruptFileError,
         "hyper-latent string z")


def test_other_model_files_and_fields(coder, files):
  refuse(coder, crafted(files["a"], fingerprint=b"\x01" * 8), WrongModelError, "not by")
  refuse(load_coder(CHARM), files["a"], WrongModelError, "was made by model")
  refuse(coder, crafted(files["a"], version=3), UnsupportedFileError, "unsupported format")
  flipped = bytearray(files["a"])
  flipped[4] ^= 0x02
  refuse(coder, bytes(flipped), CorruptFileError, "checksum mismatch")
  refuse(coder, crafted(files["a"], model=b"evil\nname"), CorruptFileError, "bad model name")
  refuse(coder, crafted(files["a"], model=b"m" * 2000), CorruptFileError, "longer than")
  refuse(coder, crafted(files["a"], mode=9), CorruptFileError, "color mode")
  # Non-minimal varint (a redundant 0x80 0x00 continuation) for the height.
  raw = bytearray(files["a"][:-4])
  f = stress_decoder.fields(files["a"])
  at = 6 + 2 + len(f["model"]) + len(f["config"]) + 8
  assert raw[at] == 64
  raw[at:at + 1] = bytes([64 | 0x80, 0])
  refuse(coder, bytes(raw) + struct.pack(">I", zlib.crc32(raw)), CorruptFileError, "bad height")


def test_strings_mixed_between_files_never_decode_silently_wrong(coder, files):
  """Header of one file with the strings of another, or strings swapped between files: a
  one-line error, or (when the tiny model's indexes cannot tell) a valid decode."""
  a, b = stress_decoder.fields(files["a"]), stress_decoder.fields(files["b"])
  for strings in (b["strings"], [b["strings"][0], a["strings"][1]],
                  [a["strings"][0], b["strings"][1]], a["strings"][::-1]):
    try:
      coder.decompress_array(crafted(files["a"], strings=strings))
    except bitstream.BitstreamError as e:
      assert "\n" not in str(e)


def test_pack_refuses_what_unpack_refuses():
  header = bitstream.Header("m", "c", "0123456789abcdef", 3, 5)
  for bad in (dataclasses.replace(header, height=0), dataclasses.replace(header, model="a\nb"),
              dataclasses.replace(header, index_checksum=2 ** 31)):
    with pytest.raises(ValueError):
      bitstream.pack(bitstream.Bitstream(bad, [b"z", b"y"]))
  with pytest.raises(ValueError):
    bitstream.pack(bitstream.Bitstream(header, [b"z", b""]))
  tiled = dataclasses.replace(header, height=100, tile_side=64, tile_checksums=((1,), (2,)))
  assert bitstream.unpack(bitstream.pack(bitstream.Bitstream(tiled, [b"a"] * 4))).header == tiled
  for bad in (dataclasses.replace(tiled, tile_side=32), dataclasses.replace(tiled, tile_side=0),
              dataclasses.replace(tiled, tile_checksums=((1,),)),
              dataclasses.replace(tiled, tile_checksums=((1, 2), (3, 4))),
              dataclasses.replace(header, tile_side=64)):
    with pytest.raises(ValueError):
      bitstream.pack(bitstream.Bitstream(bad, [b"a"] * 4))


def test_compress_has_the_same_pixel_limit(coder):
  with pytest.raises(TooLargeError):
    coder.compress_array(smooth_image(40, 56), max_pixels=40 * 56 - 1)
  assert coder.compress_array(smooth_image(40, 56), max_pixels=40 * 56)


# -- command line -------------------------------------------------------------------------------
def run(capsys, *args):
  code = cli.main([str(a) for a in args])
  out, err = capsys.readouterr()
  return code, out, err


def test_cli_pixel_limit_is_checked_before_loading_a_model(tmp_path, files, capsys):
  # The header names a model nobody has: the pixel limit must refuse first.
  data = crafted(files["a"], model=b"nobody/1/q1", height=5000, width=5000)
  path = tmp_path / "big.tfsw"
  path.write_bytes(data)
  code, _, err = run(capsys, "decompress", path, tmp_path / "o.png")
  assert code == 1 and "pixel limit of 16,777,216" in err and err.count("\n") == 1
  code, _, err = run(capsys, "decompress", path, tmp_path / "o.png", "--max-pixels", "1000")
  assert code == 1 and "pixel limit of 1,000" in err
  code, _, err = run(capsys, "decompress", path, tmp_path / "o.png", "--max-pixels", "0")
  assert code == 1 and "not in the zoo" in err
  assert not (tmp_path / "o.png").exists()


def test_cli_never_loads_a_model_from_a_path_named_in_a_file(tmp_path, files, capsys):
  for name in (b"../../tmp/x/1/q1", b"./x/1/q1", b"untrained/../x/seed0"):
    path = tmp_path / "f.tfsw"
    path.write_bytes(crafted(files["a"], model=name,
                             config=b".." if name.startswith(b"untrained") else b"c"))
    code, _, err = run(capsys, "decompress", path, tmp_path / "o.png")
    assert code == 1 and "not in the zoo" in err, err


def test_cli_compress_pixel_limit(tmp_path, capsys):
  src = tmp_path / "in.png"
  Image.fromarray(smooth_image(37, 50)).save(src)
  code, _, err = run(capsys, "compress", src, tmp_path / "o.tfsw", "--model", MODEL,
                     "--max-pixels", "1,000")
  assert code == 1 and "37 = 1,850 pixels, above the pixel limit of 1,000" in err
  assert not (tmp_path / "o.tfsw").exists()


def _png_claiming(width: int, height: int) -> bytes:
  """A tiny PNG whose header claims width x height (its pixel data is an empty zlib stream)."""
  def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body))
  header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
          + chunk(b"IEND", b""))


def test_huge_image_headers_are_refused_before_decoding(tmp_path, capsys):
  """A 100-byte PNG claiming 65536 x 65536 pixels: refused from its header in no time (the
  default limit, and Pillow's bomb guard when the caller lifts ours)."""
  src = tmp_path / "bomb.png"
  src.write_bytes(_png_claiming(65536, 65536))
  start = time.perf_counter()
  with pytest.raises(TooLargeError, match="pixel limit"):
    image_io.read_image(str(src), max_pixels=bitstream.DEFAULT_MAX_PIXELS)
  with pytest.raises(TooLargeError, match="decompression bomb"):
    image_io.read_image(str(src), max_pixels=None)
  code, _, err = run(capsys, "compress", src, tmp_path / "o.tfsw", "--model", MODEL)
  assert code == 1 and "above the pixel limit" in err
  assert time.perf_counter() - start < 5 and not (tmp_path / "o.tfsw").exists()


def test_cli_bugs_keep_their_traceback(monkeypatch, capsys):
  def broken(args):
    raise KeyError("qualities")
  monkeypatch.setattr(cli, "cmd_info", broken)
  with pytest.raises(KeyError):
    cli.main(["info", "whatever.tfsw"])


# -- long-running use ----------------------------------------------------------------------------
def test_threads_share_one_model_and_memory_stays_flat():
  result = stress_decoder.service_check(MODEL, calls=40, threads=4)
  assert result["threads_identical_files"] and result["threads_identical_images"]
  assert result["rss_growth_mb"] < 40, result


def test_timings_are_per_thread(coder, files):
  seen = {}

  def work(name, data):
    coder.decompress_array(data) if name == "d" else coder.compress_array(smooth_image(8, 8))
    seen[name] = set(coder.timings)

  threads = [threading.Thread(target=work, args=(n, files["a"])) for n in ("d", "c")]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert seen == {"d": {"unpack", "decode_model"}, "c": {"encode_model", "pack"}}


@pytest.mark.slow
def test_kill_9_leaves_no_partial_output_and_never_touches_the_input(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  src = tmp_path / "in.png"
  Image.fromarray(smooth_image(300, 400)).save(src)
  digest = hashlib.sha256(src.read_bytes()).hexdigest()
  t0 = time.monotonic()
  subprocess.run([sys.executable, "-m", "tfc_swin", "compress", src, tmp_path / "full.tfsw",
                  "--model", MODEL], env=env, check=True, capture_output=True)
  duration = time.monotonic() - t0
  for command, inp, out in (("compress", src, tmp_path / "k.tfsw"),
                            ("decompress", tmp_path / "full.tfsw", tmp_path / "k.png")):
    proc = subprocess.Popen([sys.executable, "-m", "tfc_swin", command, inp, out, "--model",
                             MODEL], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.7 * duration)
    if proc.poll() is None:
      os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if out.exists():  # Finished before the kill: then it is complete.
      if command == "compress":
        assert out.read_bytes() == (tmp_path / "full.tfsw").read_bytes()
      else:
        assert Image.open(out).size == (400, 300)
  assert hashlib.sha256(src.read_bytes()).hexdigest() == digest
  assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tfc_swin-")]


# -- the stress command (bounded CI subset) ------------------------------------------------------
@pytest.mark.slow
def test_stress_subset_has_no_crash_hang_traceback_or_unbounded_allocation(tmp_path):
  out = tmp_path / "stress.json"
  proc = subprocess.run(
      [sys.executable, str(REPO / "experiments" / "stress_decoder.py"),
       f"--models={MODEL},swint-charm-tiny", "--flips=200", "--crafted=100",
       "--truncation_step=5", "--timeout=30", "--max_rss_growth_mb=1024",
       f"--output={out}"], capture_output=True, text=True, timeout=600, check=False,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  result = json.loads(out.read_text())
  assert result["failures"] == 0
  for model in result["results"]:
    totals = {}
    for counts in model["counts"].values():
      for outcome, n in counts.items():
        totals[outcome] = totals.get(outcome, 0) + n
    assert not set(totals) & set(stress_decoder.FAILURES), totals
    assert sum(totals.values()) == model["cases"] >= 300
