"""Command line and file format: round trips, bpp from file size, every bad-input case."""
import os

import numpy as np
import pytest
from PIL import Image

from tfc_swin import bitstream, cli
from helpers import smooth_image

MODEL = "conv-hyperprior-tiny"
OTHER = "conv-charm-tiny"


def run(capsys, *args):
  code = cli.main([str(a) for a in args])
  out, err = capsys.readouterr()
  return code, out, err


@pytest.fixture
def png(tmp_path):
  path = tmp_path / "in.png"
  Image.fromarray(smooth_image(37, 50)).save(path)
  return path


@pytest.mark.slow
def test_compress_decompress_round_trip_and_bpp(tmp_path, png, capsys):
  out = tmp_path / "x.tfsw"
  code, stdout, _ = run(capsys, "compress", png, out, "--model", MODEL, "-v")
  assert code == 0
  bpp = 8 * os.path.getsize(out) / (37 * 50)
  assert f"{bpp:.4f} bpp" in stdout and "encode_model" in stdout
  code, stdout, _ = run(capsys, "decompress", out, tmp_path / "y.png")  # model from header
  assert code == 0 and f"{bpp:.4f} bpp" in stdout
  assert np.asarray(Image.open(tmp_path / "y.png")).shape == (37, 50, 3)
  code, stdout, _ = run(capsys, "info", out)
  assert code == 0 and MODEL in stdout and "50x37 RGB" in stdout


@pytest.mark.parametrize("shape", [(1, 1), (5, 3), (3, 70)])
def test_odd_sizes(tmp_path, capsys, shape):
  src = tmp_path / "in.png"
  Image.fromarray(smooth_image(*shape)).save(src)
  assert run(capsys, "compress", src, tmp_path / "a.tfsw", "--model", MODEL)[0] == 0
  assert run(capsys, "decompress", tmp_path / "a.tfsw", tmp_path / "a.png")[0] == 0
  assert np.asarray(Image.open(tmp_path / "a.png")).shape == shape + (3,)


def test_grayscale_and_alpha_are_kept(tmp_path, capsys):
  rgb = smooth_image(20, 24)
  alpha = np.tile(np.arange(24, dtype=np.uint8) * 10, (20, 1))
  cases = {"L": Image.fromarray(rgb[..., 0], "L"),
           "RGBA": Image.fromarray(np.dstack([rgb, alpha]), "RGBA"),
           "LA": Image.fromarray(np.dstack([rgb[..., 0], alpha]), "LA"),
           "I;16": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)}
  for mode, im in cases.items():
    src = tmp_path / f"{mode.replace(';', '')}.png"
    im.save(src)
    dst = tmp_path / f"{mode.replace(';', '')}.tfsw"
    assert run(capsys, "compress", src, dst, "--model", MODEL)[0] == 0
    assert run(capsys, "decompress", dst, f"{dst}.png")[0] == 0
    back = Image.open(f"{dst}.png")
    assert back.mode == {"I;16": "L"}.get(mode, mode)
    if "A" in mode:
      np.testing.assert_array_equal(np.asarray(back.getchannel("A")), alpha)


def test_opaque_alpha_is_dropped(tmp_path, capsys):
  src = tmp_path / "opaque.png"
  Image.fromarray(smooth_image(8, 8)).convert("RGBA").save(src)
  assert run(capsys, "compress", src, tmp_path / "o.tfsw", "--model", MODEL)[0] == 0
  assert bitstream.unpack((tmp_path / "o.tfsw").read_bytes()).header.color_mode == "RGB"


@pytest.fixture
def compressed(tmp_path, png, capsys):
  out = tmp_path / "good.tfsw"
  assert run(capsys, "compress", png, out, "--model", MODEL)[0] == 0
  return out


def _expect_error(capsys, *args, match):
  code, _, err = run(capsys, *args)
  assert code == 1
  lines = err.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("tfc-swin: error:"), err
  assert match in lines[0], lines[0]


@pytest.mark.slow
def test_file_from_another_model(tmp_path, compressed, capsys):
  _expect_error(capsys, "decompress", compressed, tmp_path / "o.png", "--model", OTHER,
                match="was made by model")


def test_truncated_file(tmp_path, compressed, capsys):
  data = compressed.read_bytes()
  for cut in (3, 10, len(data) // 2, len(data) - 1):
    bad = tmp_path / f"cut{cut}.tfsw"
    bad.write_bytes(data[:cut])
    _expect_error(capsys, "decompress", bad, tmp_path / "o.png", "--model", MODEL,
                  match="not a tfc_swin file" if cut < 4 else "truncated")


def test_flipped_bits(tmp_path, compressed, capsys):
  data = bytearray(compressed.read_bytes())
  for pos in range(4, len(data), max(1, len(data) // 7)):
    flipped = bytearray(data)
    flipped[pos] ^= 0x10
    bad = tmp_path / f"flip{pos}.tfsw"
    bad.write_bytes(bytes(flipped))
    code, _, err = run(capsys, "decompress", bad, tmp_path / f"o{pos}.png", "--model", MODEL)
    assert code == 1 and err.count("\n") == 1 and "error" in err
    assert not (tmp_path / f"o{pos}.png").exists()


def test_other_kind_of_file(tmp_path, png, capsys):
  _expect_error(capsys, "decompress", png, tmp_path / "o.png", "--model", MODEL,
                match="not a tfc_swin file")
  _expect_error(capsys, "info", png, match="not a tfc_swin file")


def test_unreadable_or_empty_image(tmp_path, capsys):
  empty = tmp_path / "empty.png"
  empty.write_bytes(b"")
  _expect_error(capsys, "compress", empty, tmp_path / "e.tfsw", "--model", MODEL,
                match="not a readable image")
  text = tmp_path / "text.png"
  text.write_text("hello")
  _expect_error(capsys, "compress", text, tmp_path / "t.tfsw", "--model", MODEL,
                match="not a readable image")
  _expect_error(capsys, "compress", tmp_path / "missing.png", tmp_path / "m.tfsw",
                "--model", MODEL, match="no such file")
  assert not list(tmp_path.glob("*.tfsw")) and not list(tmp_path.glob(".tfc_swin-*"))


def test_never_overwrites_input_or_existing_output(tmp_path, png, compressed, capsys):
  before = png.read_bytes()
  _expect_error(capsys, "compress", png, png, "--model", MODEL, "--force",
                match="refusing to overwrite the input")
  assert png.read_bytes() == before
  _expect_error(capsys, "compress", png, compressed, "--model", MODEL, match="--force")
  assert run(capsys, "compress", png, compressed, "--model", MODEL, "--force")[0] == 0


def test_unknown_model(tmp_path, png, capsys):
  _expect_error(capsys, "compress", png, tmp_path / "x.tfsw", "--model", "nope",
                match="unknown model")


def test_models_lists_every_config(capsys):
  code, out, _ = run(capsys, "models", "--no-count")
  assert code == 0 and "swint-charm" in out and "Conv-Hyperprior" in out


def test_header_round_trip():
  header = bitstream.Header("m/1/q2", "conv-hyperprior", "0123456789abcdef", 3, 700, "LA", 42)
  stream = bitstream.Bitstream(header, [b"z", b"y" * 300], bitstream.compress_alpha(b"\x01" * 2100))
  assert bitstream.unpack(bitstream.pack(stream)) == stream


def test_scale_index_mismatch_is_detected(tmp_path, compressed, capsys):
  """A decoder deriving other scale indexes than the encoder (float drift) must refuse."""
  import dataclasses
  stream = bitstream.unpack(compressed.read_bytes())
  header = dataclasses.replace(stream.header,
                               index_checksum=(stream.header.index_checksum + 1) % 2 ** 31)
  bad = tmp_path / "drift.tfsw"
  bad.write_bytes(bitstream.pack(dataclasses.replace(stream, header=header)))
  _expect_error(capsys, "decompress", bad, tmp_path / "o.png", "--model", MODEL,
                match="different scale indexes")
