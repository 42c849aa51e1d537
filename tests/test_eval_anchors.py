"""Tests of the classical anchors, codec spec resolution and external results import."""
from __future__ import annotations

import io
import sys
import types

import numpy as np
import pillow_heif
import pytest
from PIL import Image, JpegImagePlugin

import tfc_swin
from tfc_swin.eval import anchors, codecs, metrics, results


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  coarse = rng.uniform(0, 255, (4, 5, 3)).astype(np.uint8)
  image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC), np.float64)
  return np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", anchors.ANCHOR_NAMES)
@pytest.mark.parametrize("shape", [(48, 64), (47, 63)])
def test_anchor_roundtrip(name, shape):
  image = smooth_image(*shape)
  family, points = codecs.resolve(name)
  assert family == name and len(points) >= 8
  sizes, psnrs = [], []
  for label, codec in (points[0], points[-1]):
    data = codec.encode(image)
    decoded = codec.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert codec.name == f"{name}:{label}" and codec.description
    sizes.append(len(data))
    psnrs.append(metrics.psnr(image, decoded))
  assert sizes[0] < sizes[1]
  assert psnrs[0] < psnrs[1]


def test_anchor_settings_in_bitstreams():
  image = smooth_image(48, 64)
  jpeg420 = dict(codecs.resolve("jpeg420")[1])["50"].encode(image)
  jpeg444 = dict(codecs.resolve("jpeg444")[1])["50"].encode(image)
  assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(jpeg420))) == 2
  assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(jpeg444))) == 0
  j2k = dict(codecs.resolve("jpeg2000")[1])["40"].encode(image)
  assert j2k.startswith(b"\xff\x4f\xff\x51")  # raw J2K codestream: SOC + SIZ markers
  webp = dict(codecs.resolve("webp")[1])["75"].encode(image)
  assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
  heif = dict(codecs.resolve("hevc444")[1])["50"].encode(image)
  assert pillow_heif.open_heif(io.BytesIO(heif)).info["chroma"] == 444


def test_jpeg_default_is_pillow_default():
  image = smooth_image(48, 64)
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, "JPEG", quality=75)
  assert dict(codecs.resolve("jpeg420")[1])["75"].encode(image) == buffer.getvalue()


def test_decode_rejects_other_format():
  image = smooth_image(48, 64)
  webp = dict(codecs.resolve("webp")[1])["75"].encode(image)
  with pytest.raises(ValueError, match="expected a JPEG stream"):
    dict(codecs.resolve("jpeg420")[1])["75"].decode(webp)


def test_library_versions():
  versions = anchors.library_versions()
  for key in ("pillow", "libjpeg_turbo", "libwebp", "openjpeg", "libavif", "libheif", "x265"):
    assert versions[key] and versions[key] != "None", key


def test_resolve_external_and_unknown(monkeypatch):
  with pytest.raises(ValueError, match="cannot encode"):
    codecs.resolve("external:results/vtm.csv")
  monkeypatch.delattr(tfc_swin, "api", raising=False)
  monkeypatch.setitem(sys.modules, "tfc_swin.api", None)  # makes the import fail
  with pytest.raises(ValueError, match="jpeg420, jpeg444, webp, jpeg2000, avif, hevc444"):
    codecs.resolve("no-such-codec")


def install_fake_api(monkeypatch, api: types.ModuleType) -> None:
  monkeypatch.setitem(sys.modules, "tfc_swin.api", api)
  monkeypatch.setattr(tfc_swin, "api", api, raising=False)


def test_resolve_adds_anchor_names_to_api_errors(monkeypatch):
  api = types.ModuleType("tfc_swin.api")

  def unknown(spec):
    raise ValueError(f"unknown model {spec!r}")

  api.learned_codec_points = unknown
  install_fake_api(monkeypatch, api)
  with pytest.raises(ValueError, match="unknown model 'x'; classical anchors: jpeg420"):
    codecs.resolve("x")


def test_resolve_delegates_to_api(monkeypatch):
  api = types.ModuleType("tfc_swin.api")
  api.learned_codec_points = lambda spec: (f"family-{spec}", [("1", "codec")])
  install_fake_api(monkeypatch, api)
  assert codecs.resolve("swint-hyperprior") == ("family-swint-hyperprior", [("1", "codec")])


def test_external_csv_import(tmp_path):
  folder = tmp_path / "kodak"
  folder.mkdir()
  path = folder / "vtm-12.1.csv"
  path.write_text("image,quality,bpp,psnr,ms_ssim\n"
                  "kodim01,22,1.5,38.0,0.99\n"
                  "kodim01,37,0.2,29.0,0.9\n"
                  "kodim02,22,1.0,40.0,0.995\n"
                  "kodim02,37,0.1,31.0,\n", encoding="utf-8")
  loaded = results.load_results(f"external:{path}")
  assert loaded["name"] == "vtm-12.1" and loaded["dataset"] == "kodak"
  assert loaded["qualities"] == ["22", "37"] and loaded["images"] == ["kodim01", "kodim02"]
  first = loaded["results"]["per_image"][0]
  assert first["ms_ssim_db"] == pytest.approx(20.0) and first["encoding_time"] is None
  averages = {a["quality"]: a for a in loaded["results"]["averages"]}
  assert averages["22"]["bpp"] == pytest.approx(1.25) and averages["22"]["num_images"] == 2
  assert averages["37"]["ms_ssim"] is None  # unknown for one image -> unknown mean


def test_external_csv_missing_columns(tmp_path):
  path = tmp_path / "bad.csv"
  path.write_text("image,bpp,psnr\nkodim01,1.0,30.0\n", encoding="utf-8")
  with pytest.raises(ValueError, match="quality"):
    results.load_results(path)
