"""Classical anchor codecs (JPEG, WebP, JPEG 2000, AVIF, HEVC 4:4:4) in memory.

Every anchor is a family of codec points, one per quality setting, ordered by
increasing bitrate. The sweeps were chosen so that the Kodak averages cover
about 0.1-2 bpp (see docs/evaluation.md for the measured ranges). All codecs
encode to and decode from ``bytes`` with Pillow / pillow-heif; the rate is the
size of the complete file (headers and container included).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import io
import platform
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from PIL import Image, features

from tfc_swin.eval.protocol import CodecPoints

JPEG_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 75, 90, 95)
WEBP_QUALITIES = (0, 5, 10, 20, 40, 60, 75, 85, 90, 95)
JPEG2000_RATIOS = (240, 160, 120, 80, 60, 40, 30, 20, 12, 8)
AVIF_QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 88, 94)
AVIF_SPEED = 4
HEVC_QUALITIES = (10, 20, 26, 32, 38, 44, 50, 56, 62, 70)
HEVC_ENCODER_PARAMS = {"preset": "veryslow", "tune": "ssim"}

ANCHOR_NAMES = ("jpeg420", "jpeg444", "webp", "jpeg2000", "avif", "hevc444")
#: Anchors coded by pillow-heif (imported only when one of them runs).
HEIF_ANCHORS = ("hevc444",)


def _package_version(name: str) -> str:
  try:
    return importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return "not installed"


def _ensure_avif() -> str:
  """Makes AVIF available in Pillow; returns which implementation is used."""
  if features.check("avif"):
    return f"Pillow AVIF plugin (libavif {features.version('avif')})"
  try:
    import pillow_avif  # noqa: F401  (registers the AVIF plugin)
  except ImportError as error:
    raise RuntimeError(
      "AVIF is not available: this Pillow build has no AVIF support and "
      "pillow-avif-plugin is not installed"
    ) from error
  return f"pillow-avif-plugin {_package_version('pillow-avif-plugin')}"


def _avif_codec_versions() -> str:
  if not features.check("avif"):
    return "unknown (pillow-avif-plugin)"
  from PIL import _avif

  return str(_avif.codec_versions())


def library_versions(family: str = "") -> dict[str, str]:
  """Versions of the image libraries behind the anchors, detected at runtime; those of
  pillow-heif (libheif, x265, libde265) only for a HEIF anchor ``family``."""
  versions = {
    "python": platform.python_version(),
    "numpy": np.__version__,
    "pillow": Image.__version__,
    "libjpeg_turbo": str(features.version("libjpeg_turbo")),
    "libjpeg_api": str(features.version("jpg")),
    "libwebp": str(features.version("webp")),
    "openjpeg": str(features.version("jpg_2000")),
    "libavif": str(features.version("avif")),
    "avif_codecs": _avif_codec_versions(),
  }
  return versions | (_heif_versions() if family in HEIF_ANCHORS else {})


def _heif_versions() -> dict[str, str]:
  import pillow_heif

  info = pillow_heif.libheif_info()
  return {
    "pillow_heif": pillow_heif.__version__,
    "libheif": str(info.get("libheif")),
    "x265": str(info.get("encoders", {}).get("x265")),
    "libde265": str(info.get("decoders", {}).get("libde265")),
  }


def _check_image(image: np.ndarray) -> None:
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(
      f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}"
    )


@dataclasses.dataclass(frozen=True)
class PillowCodec:
  """A codec point backed by a Pillow image plugin."""

  name: str
  description: str
  pillow_format: str
  save_options: Mapping[str, Any]

  def encode(self, image: np.ndarray) -> bytes:
    """Encodes an HxWx3 uint8 RGB image."""
    _check_image(image)
    buffer = io.BytesIO()
    Image.fromarray(image, "RGB").save(
      buffer, self.pillow_format, **self.save_options
    )
    return buffer.getvalue()

  def decode(self, data: bytes) -> np.ndarray:
    """Decodes bytes produced by ``encode`` to an HxWx3 uint8 RGB image."""
    with Image.open(io.BytesIO(data)) as decoded:
      if decoded.format != self.pillow_format:
        raise ValueError(
          f"{self.name}: expected a {self.pillow_format} stream, "
          f"got {decoded.format}"
        )
      return np.asarray(decoded.convert("RGB"))


@dataclasses.dataclass(frozen=True)
class HeifCodec:
  """A codec point backed by pillow-heif (libheif + x265 / libde265)."""

  name: str
  description: str
  save_options: Mapping[str, Any]

  def encode(self, image: np.ndarray) -> bytes:
    """Encodes an HxWx3 uint8 RGB image to a HEIF file."""
    import pillow_heif

    _check_image(image)
    height, width, _ = image.shape
    heif = pillow_heif.from_bytes(
      "RGB", (width, height), np.ascontiguousarray(image).tobytes()
    )
    buffer = io.BytesIO()
    heif.save(buffer, **self.save_options)
    return buffer.getvalue()

  def decode(self, data: bytes) -> np.ndarray:
    """Decodes a HEIF file to an HxWx3 uint8 RGB image."""
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    return np.asarray(heif.to_pillow().convert("RGB"))


def _jpeg(name: str, subsampling: int, chroma: str) -> CodecPoints:
  description = (
    f"Pillow {Image.__version__} JPEG (libjpeg-turbo "
    f"{features.version('libjpeg_turbo')}), quality label = Pillow "
    f"quality in {list(JPEG_QUALITIES)}, subsampling={subsampling} "
    f"({chroma}); all other options Pillow defaults (standard IJG tables, "
    "optimize=False, progressive=False, no ICC/EXIF); decoded by Pillow"
  )
  return [
    (
      str(q),
      PillowCodec(
        f"{name}:{q}",
        description,
        "JPEG",
        {"quality": q, "subsampling": subsampling},
      ),
    )
    for q in JPEG_QUALITIES
  ]


def _webp() -> CodecPoints:
  description = (
    f"Pillow {Image.__version__} WebP lossy (libwebp "
    f"{features.version('webp')}), quality label = Pillow quality in "
    f"{list(WEBP_QUALITIES)}, method=6; other options Pillow defaults "
    "(4:2:0, no sharp YUV, no alpha)"
  )
  return [
    (
      str(q),
      PillowCodec(f"webp:{q}", description, "WEBP", {"quality": q, "method": 6}),
    )
    for q in WEBP_QUALITIES
  ]


def _jpeg2000() -> CodecPoints:
  description = (
    f"Pillow {Image.__version__} JPEG 2000 (OpenJPEG "
    f"{features.version('jpg_2000')}), raw J2K codestream (no_jp2=True), "
    "irreversible=True (9/7 wavelet), mct=1 (RGB->YCbCr), "
    "quality_mode='rates', quality label = compression ratio r with "
    f"quality_layers=[r], r in {list(JPEG2000_RATIOS)} (target 24/r bpp); "
    "other options Pillow/OpenJPEG defaults"
  )
  return [
    (
      str(r),
      PillowCodec(
        f"jpeg2000:{r}",
        description,
        "JPEG2000",
        {
          "irreversible": True,
          "mct": 1,
          "quality_mode": "rates",
          "quality_layers": [r],
          "no_jp2": True,
        },
      ),
    )
    for r in JPEG2000_RATIOS
  ]


def _avif() -> CodecPoints:
  implementation = _ensure_avif()
  description = (
    f"{implementation}, AV1 codecs {_avif_codec_versions()}, quality label "
    f"= Pillow quality in {list(AVIF_QUALITIES)}, subsampling='4:4:4', "
    f"speed={AVIF_SPEED}, range='full', codec='auto'; other options "
    "Pillow defaults"
  )
  return [
    (
      str(q),
      PillowCodec(
        f"avif:{q}",
        description,
        "AVIF",
        {"quality": q, "subsampling": "4:4:4", "speed": AVIF_SPEED},
      ),
    )
    for q in AVIF_QUALITIES
  ]


def _hevc444() -> CodecPoints:
  import pillow_heif

  info = pillow_heif.libheif_info()
  description = (
    f"pillow-heif {pillow_heif.__version__} HEIF (libheif "
    f"{info.get('libheif')}, encoder {info.get('HEIF')}), chroma=444, "
    f"enc_params={HEVC_ENCODER_PARAMS}, quality label = libheif quality "
    f"q in {list(HEVC_QUALITIES)} (x265 CRF = (100 - q) // 2); "
    "default NCLX (BT.601 matrix, full range); complete HEIF file counted. "
    "Closest available stand-in for BPG444 (bpgenc -f 444 uses x265 "
    "preset veryslow, tune ssim, fixed QP, smaller container)"
  )
  return [
    (
      str(q),
      HeifCodec(
        f"hevc444:{q}",
        description,
        {"quality": q, "chroma": 444, "enc_params": dict(HEVC_ENCODER_PARAMS)},
      ),
    )
    for q in HEVC_QUALITIES
  ]


_FAMILIES: dict[str, Callable[[], CodecPoints]] = {
  "jpeg420": lambda: _jpeg("jpeg420", 2, "4:2:0"),
  "jpeg444": lambda: _jpeg("jpeg444", 0, "4:4:4"),
  "webp": _webp,
  "jpeg2000": _jpeg2000,
  "avif": _avif,
  "hevc444": _hevc444,
}


def anchor_points(name: str) -> CodecPoints:
  """Returns the ``(quality_label, codec)`` points of a classical anchor."""
  if name not in _FAMILIES:
    raise ValueError(
      f"unknown anchor {name!r}; valid anchors: {', '.join(ANCHOR_NAMES)}"
    )
  return _FAMILIES[name]()
