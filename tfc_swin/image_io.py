"""Reading, listing and writing image files: the one image reader of the package (command line,
evaluation, training data).

Inputs: anything Pillow opens (PNG, JPEG, ...). Color handling:

* RGB is coded as is; palette images become RGB (or RGBA if they have transparency).
* Grayscale (L, 16-bit I;16 scaled to 8 bits, 1-bit) is coded as RGB with equal channels and
  decoded back to grayscale.
* An alpha channel (RGBA, LA) is kept losslessly: the color is coded by the model and the
  alpha plane is stored zlib-compressed beside it; a fully opaque alpha is dropped.
* CMYK, YCbCr and other modes are converted to RGB.

EXIF orientation is ignored. :func:`read_rgb` / :func:`decode_rgb` give the RGB part only
(alpha dropped, not composited): what evaluation and training see.
"""
from __future__ import annotations

import glob
import io
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfc_swin.bitstream import TooLargeError, check_pixel_limit
from tfc_swin.fileio import atomic_write

Image.MAX_IMAGE_PIXELS = 1 << 30
#: File name extensions (lower case) that :func:`list_images` picks up.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp")


class ImageReadError(ValueError):
  """An input that is not a readable, non-empty image."""


def read_image(path: str | BinaryIO, max_pixels: int | None = None
               ) -> tuple[np.ndarray, str, np.ndarray | None]:
  """Returns (RGB uint8 HxWx3, color mode "RGB"/"L"/"RGBA"/"LA", alpha HxW or None) of a file
  (a path, or an open binary file).

  Above ``max_pixels`` (None: no limit of ours; Pillow still refuses more than twice its
  ``MAX_IMAGE_PIXELS``) raises :class:`~tfc_swin.bitstream.TooLargeError` from the file's
  header, before any pixel is decoded.
  """
  name = path if isinstance(path, str) else "image data"
  try:
    with Image.open(path) as im:
      check_pixel_limit(im.height, im.width, max_pixels)
      im.load()
      return split_color_alpha(im)
  except Image.DecompressionBombError as e:  # Pillow's own guard, raised by Image.open.
    limit = "" if max_pixels is None else f"above the pixel limit of {max_pixels:,}: "
    raise TooLargeError(f"{name}: {limit}{e}") from None
  except FileNotFoundError:
    raise ImageReadError(f"{name}: no such file") from None
  except IsADirectoryError:
    raise ImageReadError(f"{name}: is a directory") from None
  except (UnidentifiedImageError, OSError, SyntaxError) as e:
    raise ImageReadError(f"{name}: not a readable image ({e.__class__.__name__})") from None


def read_rgb(path: str | Path) -> np.ndarray:
  """The RGB uint8 (H, W, 3) array of an image file (alpha dropped, grayscale replicated)."""
  return read_image(str(path))[0]


def decode_rgb(data: bytes) -> np.ndarray:
  """:func:`read_rgb` of an encoded image held in memory (e.g. a TFDS ``image`` feature)."""
  return read_image(io.BytesIO(data))[0]


def list_images(source: str | Path, limit: int | None = None) -> list[Path]:
  """Image files (by :data:`IMAGE_EXTENSIONS`, any case) under a folder, recursively, or
  matching a glob; sorted by path, the first ``limit`` if given."""
  source = str(source)
  if os.path.isdir(source):
    found = [os.path.join(d, f) for d, _, names in os.walk(source) for f in names]
  else:
    found = glob.glob(source, recursive=True)
  paths = sorted(Path(f) for f in found if f.lower().endswith(IMAGE_EXTENSIONS))
  if not paths:
    kinds = "/".join(e[1:] for e in IMAGE_EXTENSIONS)
    raise ValueError(f"no images ({kinds}) in or matching {source!r}")
  return paths[:limit]


def split_color_alpha(im: Image.Image) -> tuple[np.ndarray, str, np.ndarray | None]:
  """Splits a Pillow image into the RGB array to code, its mode and its alpha plane."""
  if im.width == 0 or im.height == 0:
    raise ImageReadError("empty image (0 pixels)")
  if im.mode == "P":
    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
  if im.mode in ("I;16", "I;16B", "I;16L", "I"):
    arr = np.asarray(im, dtype=np.uint32)
    im = Image.fromarray((arr >> 8 if arr.max() > 255 else arr).astype(np.uint8), "L")
  if im.mode == "1":
    im = im.convert("L")
  if im.mode == "PA":
    im = im.convert("RGBA")
  mode = im.mode if im.mode in ("RGB", "L", "RGBA", "LA") else "RGB"
  alpha = None
  if mode in ("RGBA", "LA"):
    alpha = np.asarray(im.getchannel("A"))
    if alpha.min() == 255:
      alpha, mode = None, mode[:-1]
  rgb = np.asarray(im.convert("RGB"), dtype=np.uint8)
  return rgb, mode, alpha


def merge_color_alpha(rgb: np.ndarray, mode: str, alpha: np.ndarray | None) -> Image.Image:
  """Inverse of :func:`split_color_alpha` (grayscale via ITU-R 601 luma)."""
  im = Image.fromarray(rgb, "RGB")
  if mode in ("L", "LA"):
    im = im.convert("L")
  if alpha is not None:
    im.putalpha(Image.fromarray(alpha, "L"))
  return im


def write_png(path: str, image: Image.Image, force: bool = False,
              protect: tuple[str, ...] = ()) -> None:
  atomic_write(path, lambda tmp: image.save(tmp, format="PNG"), force, protect)


def write_bytes(path: str, data: bytes, force: bool = False,
                protect: tuple[str, ...] = ()) -> None:

  def write(tmp):
    with open(tmp, "wb") as f:
      f.write(data)

  atomic_write(path, write, force, protect)
