"""Tests of the classical anchors, codec spec resolution and external results import."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pillow_heif
import pytest
from PIL import Image, JpegImagePlugin

from tfc_swin import api
from tfc_swin.eval import anchors, metrics, results
from tfc_swin.eval.resolve import resolve
from helpers import blurred_noise_image


@pytest.mark.parametrize("name", anchors.ANCHOR_NAMES)
@pytest.mark.parametrize("shape", [(48, 64), (47, 63)])
def test_anchor_roundtrip(name, shape):
  image = blurred_noise_image(*shape)
  family, points = resolve(name)
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
  image = blurred_noise_image(48, 64)
  jpeg420 = dict(resolve("jpeg420")[1])["50"].encode(image)
  jpeg444 = dict(resolve("jpeg444")[1])["50"].encode(image)
  assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(jpeg420))) == 2
  assert JpegImagePlugin.get_sampling(Image.open(io.BytesIO(jpeg444))) == 0
  j2k = dict(resolve("jpeg2000")[1])["40"].encode(image)
  assert j2k.startswith(b"\xff\x4f\xff\x51")  # raw J2K codestream: SOC + SIZ markers
  webp = dict(resolve("webp")[1])["75"].encode(image)
  assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
  heif = dict(resolve("hevc444")[1])["50"].encode(image)
  assert pillow_heif.open_heif(io.BytesIO(heif)).info["chroma"] == 444


def test_jpeg_default_is_pillow_default():
  image = blurred_noise_image(48, 64)
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, "JPEG", quality=75)
  assert dict(resolve("jpeg420")[1])["75"].encode(image) == buffer.getvalue()


def test_decode_rejects_other_format():
  image = blurred_noise_image(48, 64)
  webp = dict(resolve("webp")[1])["75"].encode(image)
  with pytest.raises(ValueError, match="expected a JPEG stream"):
    dict(resolve("jpeg420")[1])["75"].decode(webp)


def test_library_versions():
  versions = anchors.library_versions("hevc444")
  for key in ("pillow", "libjpeg_turbo", "libwebp", "openjpeg", "libavif", "libheif", "x265"):
    assert versions[key] and versions[key] != "None", key
  assert "libheif" not in anchors.library_versions("jpeg420")


def test_pillow_heif_is_imported_only_for_heif_anchors():
  code = ("import sys; from tfc_swin.eval import anchors, runner; "
          "runner.environment_versions('jpeg420'); anchors.anchor_points('jpeg420'); "
          "assert 'pillow_heif' not in sys.modules; anchors.anchor_points('hevc444'); "
          "assert 'pillow_heif' in sys.modules")
  subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_resolve_external_and_unknown():
  with pytest.raises(ValueError, match="cannot encode"):
    resolve("external:results/vtm.csv")
  with pytest.raises(ValueError, match="unknown model 'no-such-codec'.*; classical anchors: "
                     "jpeg420, jpeg444, webp, jpeg2000, avif, hevc444"):
    resolve("no-such-codec")


def test_resolve_delegates_to_api(monkeypatch):
  monkeypatch.setattr(api, "learned_codec_points",
                      lambda spec: (f"family-{spec}", [("1", "codec")]))
  assert resolve("swint-hyperprior") == ("family-swint-hyperprior", [("1", "codec")])


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
