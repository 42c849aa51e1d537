"""Reading and writing image files for the command line.

Inputs: anything Pillow opens (PNG, JPEG, ...). Color handling:

* RGB is coded as is; palette images become RGB (or RGBA if they have transparency).
* Grayscale (L, 16-bit I;16 scaled to 8 bits, 1-bit) is coded as RGB with equal channels and
  decoded back to grayscale.
* An alpha channel (RGBA, LA) is kept losslessly: the color is coded by the model and the
  alpha plane is stored zlib-compressed beside it; a fully opaque alpha is dropped.
* CMYK, YCbCr and other modes are converted to RGB.
"""
from __future__ import annotations

import os
import tempfile
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = 1 << 30


class ImageReadError(ValueError):
  """An input that is not a readable, non-empty image."""


def read_image(path: str) -> tuple[np.ndarray, str, np.ndarray | None]:
  """Returns (RGB uint8 HxWx3, color mode "RGB"/"L"/"RGBA"/"LA", alpha HxW or None)."""
  try:
    with Image.open(path) as im:
      im.load()
      return split_color_alpha(im)
  except FileNotFoundError:
    raise ImageReadError(f"{path}: no such file") from None
  except IsADirectoryError:
    raise ImageReadError(f"{path}: is a directory") from None
  except (UnidentifiedImageError, OSError, SyntaxError) as e:
    raise ImageReadError(f"{path}: not a readable image ({e.__class__.__name__})") from None


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


def atomic_write(path: str, write: Callable[[str], None], force: bool = False,
                 protect: tuple[str, ...] = ()) -> None:
  """Calls ``write(tmp_path)`` and renames the result to ``path``.

  Refuses to overwrite an existing ``path`` unless ``force``, and never overwrites any of the
  ``protect`` paths (the inputs). A failure leaves no partial file.
  """
  target = os.path.abspath(path)
  for p in protect:
    if os.path.exists(p) and os.path.exists(target) and os.path.samefile(p, target):
      raise FileExistsError(f"{path}: refusing to overwrite the input file")
  if os.path.exists(target) and not force:
    raise FileExistsError(f"{path}: exists (use --force to replace it)")
  directory = os.path.dirname(target)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"{path}: folder {directory} does not exist")
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tfc_swin-", suffix=".part")
  os.close(fd)
  try:
    write(tmp)
    os.replace(tmp, target)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def write_png(path: str, image: Image.Image, force: bool = False,
              protect: tuple[str, ...] = ()) -> None:
  atomic_write(path, lambda tmp: image.save(tmp, format="PNG"), force, protect)


def write_bytes(path: str, data: bytes, force: bool = False,
                protect: tuple[str, ...] = ()) -> None:

  def write(tmp):
    with open(tmp, "wb") as f:
      f.write(data)

  atomic_write(path, write, force, protect)
