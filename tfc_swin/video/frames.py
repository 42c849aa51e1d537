"""Video frame sources and sinks (bounded memory) and RGB <-> YUV 4:2:0 conversion.

Sources are re-iterable: each ``iter()`` reads the frames again from the start, one at a time,
as ``(height, width, 3)`` uint8 RGB arrays; ``iter_yuv()`` yields ``(y, u, v)`` uint8 planes.

* :class:`FolderFrames`: PNG / JPEG files of a folder, in natural order (``f2`` before ``f10``).
* :class:`FFmpegFrames`: any video ffmpeg reads, decoded to an ``rgb24`` pipe of which exactly
  one frame of bytes is read at a time.
* :class:`YUVFrames`: raw 8-bit YUV 4:2:0 (``yuv420p``: the Y plane, then U, then V, each
  chroma plane ``ceil(h/2) x ceil(w/2)``), size and rate given.

Color conversion is BT.601 limited range ("studio swing": Y in 16..235, chroma in 16..240), what
ffmpeg assumes for ``yuv420p`` without color tags. ``yuv420_to_rgb(..., method="ffmpeg")``
(the default) reproduces ffmpeg's default ``yuv420p -> rgb24`` conversion (libswscale's
unscaled path: chroma replicated 2x2, 13-bit fixed-point coefficients, truncation); it is
bit-exact on x86-64 with ffmpeg 5.1 for even frame heights (for odd heights libswscale takes its
generic scaler, which filters chroma differently: a few levels apart). The truncation makes it
about 1 level darker than the exact formula, so ``method="exact"`` (float BT.601, rounded) is
also offered: an RGB -> YUV 4:2:0 -> RGB round trip of a BasketballPass frame gives 53 dB with
it against 45 dB with the ffmpeg arithmetic. :func:`rgb_to_yuv420` averages chroma over 2x2
blocks (edge pixels repeated for odd sizes) and rounds.

Writers: :func:`write_png_frames` (atomic per file, never replaces an existing file unless
``force``) and :func:`write_yuv420` (one atomic raw file).
"""
from __future__ import annotations

import abc
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfc_swin.fileio import atomic_write
from tfc_swin.image_io import IMAGE_EXTENSIONS, ImageReadError, read_image, write_png

YUV_METHODS = ("ffmpeg", "exact")
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]

# BT.601 (Kr = 0.299, Kb = 0.114) with limited range: Y' = 16 + 219 E'y, C = 128 + 224 E'c.
_KR, _KB = 0.299, 0.114
_KG = 1 - _KR - _KB
_RGB_TO_YUV = np.array([
    [219 * _KR, 219 * _KG, 219 * _KB],
    [-112 * _KR / (1 - _KB), -112 * _KG / (1 - _KB), 112.0],
    [112.0, -112 * _KG / (1 - _KR), -112 * _KB / (1 - _KR)],
]) / 255.0
_Y_SCALE = 255 / 219
_C_SCALE = 255 / 224
_V_TO_R = 2 * (1 - _KR) * _C_SCALE
_U_TO_G = -2 * (1 - _KB) * _KB / _KG * _C_SCALE
_V_TO_G = -2 * (1 - _KR) * _KR / _KG * _C_SCALE
_U_TO_B = 2 * (1 - _KB) * _C_SCALE


class FrameSourceError(ValueError):
  """Frames that cannot be read: missing or empty folders, bad raw sizes, unreadable files."""


class FFmpegError(RuntimeError):
  """ffmpeg / ffprobe failed."""


class FFmpegNotFoundError(FFmpegError):
  """ffmpeg or ffprobe is not installed."""


def find_tool(name: str = "ffmpeg") -> str:
  """Path of ``ffmpeg`` or ``ffprobe``; raises :class:`FFmpegNotFoundError` if missing."""
  path = shutil.which(name)
  if path is None:
    raise FFmpegNotFoundError(f"{name} not found on PATH: install ffmpeg (Debian/Ubuntu: "
                              "apt-get install ffmpeg)")
  return path


def run_tool(args: list[str], what: str) -> subprocess.CompletedProcess:
  """Runs ffmpeg / ffprobe (``args[0]`` a tool name); raises FFmpegError with its last line."""
  args = [find_tool(args[0])] + list(args[1:])
  result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False)
  if result.returncode:
    raise FFmpegError(f"{what} failed (exit {result.returncode}): {_last_line(result.stderr)}")
  return result


def _last_line(stderr: bytes) -> str:
  lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
  return lines[-1].strip() if lines else "no message"


# -- color conversion -------------------------------------------------------------------------


def chroma_size(height: int, width: int) -> tuple[int, int]:
  """Size of a 4:2:0 chroma plane: ``(ceil(h / 2), ceil(w / 2))``."""
  return (height + 1) // 2, (width + 1) // 2


def yuv420_frame_bytes(height: int, width: int) -> int:
  """Bytes of one 8-bit ``yuv420p`` frame."""
  ch, cw = chroma_size(height, width)
  return height * width + 2 * ch * cw


def _check_rgb(rgb: np.ndarray) -> None:
  if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3 or 0 in rgb.shape:
    raise ValueError(f"expected a non-empty HxWx3 uint8 RGB frame, got {rgb.dtype} {rgb.shape}")


def _check_planes(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
  if y.ndim != 2 or 0 in y.shape:
    raise ValueError(f"expected a non-empty HxW Y plane, got shape {y.shape}")
  expected = chroma_size(*y.shape)
  for plane in (y, u, v):
    if plane.dtype != np.uint8:
      raise ValueError(f"expected uint8 planes, got {plane.dtype}")
  if u.shape != expected or v.shape != expected:
    raise ValueError(f"chroma planes {u.shape}, {v.shape} do not match Y {y.shape} "
                     f"(expected {expected})")


def rgb_to_yuv420(rgb: np.ndarray) -> Planes:
  """HxWx3 uint8 RGB -> uint8 ``(y, u, v)`` planes, BT.601 limited range, 2x2 chroma mean."""
  _check_rgb(rgb)
  height, width, _ = rgb.shape
  yuv = rgb.astype(np.float64) @ _RGB_TO_YUV.T
  y = yuv[..., 0] + 16
  ch, cw = chroma_size(height, width)
  rows = np.minimum(np.arange(2 * ch), height - 1)
  cols = np.minimum(np.arange(2 * cw), width - 1)
  chroma = yuv[rows][:, cols, 1:].reshape(ch, 2, cw, 2, 2).mean(axis=(1, 3)) + 128

  def to_u8(a):
    return np.clip(np.round(a), 0, 255).astype(np.uint8)

  return to_u8(y), to_u8(chroma[..., 0]), to_u8(chroma[..., 1])


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray,
                  method: str = "ffmpeg") -> np.ndarray:
  """uint8 ``yuv420p`` planes -> HxWx3 uint8 RGB, BT.601 limited range, chroma replicated 2x2.

  ``method="ffmpeg"``: ffmpeg's default fixed-point arithmetic (see module docstring);
  ``"exact"``: float formula, rounded.
  """
  _check_planes(y, u, v)
  if method not in YUV_METHODS:
    raise ValueError(f"method must be one of {YUV_METHODS}, got {method!r}")
  height, width = y.shape
  u = np.repeat(np.repeat(u, 2, axis=0), 2, axis=1)[:height, :width]
  v = np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)[:height, :width]
  if method == "ffmpeg":
    luma = y.astype(np.int64) - 16
    cb = u.astype(np.int64) - 128
    cr = v.astype(np.int64) - 128

    def term(x, coefficient):  # pmulhw((x << 3), round(coefficient << 13)): floor(x c / 8192)
      return (x * 8 * int(round(coefficient * 8192))) >> 16

    lum = term(luma, _Y_SCALE)
    rgb = np.stack([lum + term(cr, _V_TO_R),
                    lum + term(cb, _U_TO_G) + term(cr, _V_TO_G),
                    lum + term(cb, _U_TO_B)], axis=-1)
  else:
    lum = (y.astype(np.float64) - 16) * _Y_SCALE
    cb = u.astype(np.float64) - 128
    cr = v.astype(np.float64) - 128
    rgb = np.round(np.stack([lum + _V_TO_R * cr,
                             lum + _U_TO_G * cb + _V_TO_G * cr,
                             lum + _U_TO_B * cb], axis=-1))
  return np.clip(rgb, 0, 255).astype(np.uint8)


def split_yuv420(data: bytes, height: int, width: int) -> Planes:
  """One raw ``yuv420p`` frame (bytes) -> ``(y, u, v)`` planes (copies)."""
  if len(data) != yuv420_frame_bytes(height, width):
    raise ValueError(f"{len(data)} bytes is not one {width}x{height} yuv420p frame")
  ch, cw = chroma_size(height, width)
  flat = np.frombuffer(data, np.uint8)
  n, c = height * width, ch * cw
  return (flat[:n].reshape(height, width).copy(), flat[n:n + c].reshape(ch, cw).copy(),
          flat[n + c:].reshape(ch, cw).copy())


def join_yuv420(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> bytes:
  """``(y, u, v)`` planes -> raw ``yuv420p`` bytes."""
  _check_planes(y, u, v)
  return y.tobytes() + u.tobytes() + v.tobytes()


# -- sources ----------------------------------------------------------------------------------


class FrameSource(abc.ABC):
  """A re-iterable video: ``iter(source)`` yields HxWx3 uint8 RGB frames from the start.

  Attributes: ``height``, ``width``, ``frame_rate`` (Fraction or None), ``num_frames`` (None
  if unknown), ``yuv_method`` (the YUV -> RGB conversion used, None for RGB sources).
  """

  height: int
  width: int
  frame_rate: Fraction | None = None
  num_frames: int | None = None
  yuv_method: str | None = None

  @abc.abstractmethod
  def __iter__(self) -> Iterator[np.ndarray]:
    """The frames as uint8 (H, W, 3) RGB arrays, one at a time."""

  def iter_yuv(self) -> Iterator[Planes]:
    """The frames as ``yuv420p`` planes (RGB sources are converted by :func:`rgb_to_yuv420`)."""
    for rgb in self:
      yield rgb_to_yuv420(rgb)

  def _check_frame(self, rgb: np.ndarray, where: str) -> np.ndarray:
    if rgb.shape != (self.height, self.width, 3):
      raise FrameSourceError(f"{where}: frame is {rgb.shape[1]}x{rgb.shape[0]}, "
                             f"expected {self.width}x{self.height} like the first frame")
    return rgb


def _natural_key(name: str) -> list:
  return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def frame_names(folder: str) -> list[str]:
  """The image files (:data:`~tfc_swin.image_io.IMAGE_EXTENSIONS`) directly in a folder, in
  natural order (``f2`` before ``f10``), hidden files left out."""
  return sorted((n for n in os.listdir(folder)
                 if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")),
                key=_natural_key)


class FolderFrames(FrameSource):
  """The image files of a folder (:data:`~tfc_swin.image_io.IMAGE_EXTENSIONS`; not recursive),
  natural order, all of one size."""

  def __init__(self, folder: str, frame_rate: Fraction | float | str | None = None):
    if not os.path.isdir(folder):
      raise FrameSourceError(f"{folder}: no such folder")
    names = frame_names(folder)
    if not names:
      raise FrameSourceError(
          f"{folder}: no image frames ({', '.join(IMAGE_EXTENSIONS)}) in the folder")
    self.folder = folder
    self.paths = [os.path.join(folder, n) for n in names]
    self.num_frames = len(self.paths)
    self.frame_rate = None if frame_rate is None else Fraction(frame_rate)
    try:
      with Image.open(self.paths[0]) as im:
        self.width, self.height = im.size
    except (UnidentifiedImageError, OSError) as e:
      raise FrameSourceError(f"{self.paths[0]}: not a readable image "
                             f"({e.__class__.__name__})") from None

  def __iter__(self) -> Iterator[np.ndarray]:
    for path in self.paths:
      try:
        rgb, _, _ = read_image(path)
      except ImageReadError as e:
        raise FrameSourceError(str(e)) from None
      yield self._check_frame(rgb, path)


def _rate(text: str) -> Fraction | None:
  try:
    rate = Fraction(text)
  except (ValueError, ZeroDivisionError):
    return None
  return rate if rate > 0 else None


def probe_video(path: str) -> dict:
  """``{width, height, frame_rate, num_frames}`` of a video's first video stream (ffprobe)."""
  if not os.path.isfile(path):
    raise FrameSourceError(f"{path}: no such file")
  result = run_tool(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                     "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames",
                     "-of", "json", path], f"ffprobe {path}")
  streams = json.loads(result.stdout or b"{}").get("streams") or []
  if not streams or not streams[0].get("width") or not streams[0].get("height"):
    raise FrameSourceError(f"{path}: no video stream")
  info = streams[0]
  count = str(info.get("nb_frames", ""))
  return {"width": int(info["width"]), "height": int(info["height"]),
          "frame_rate": (_rate(str(info.get("avg_frame_rate", "")))
                         or _rate(str(info.get("r_frame_rate", "")))),
          "num_frames": int(count) if count.isdigit() else None}


def read_exactly(stream: IO[bytes], size: int) -> bytes:
  """Reads ``size`` bytes from a pipe (fewer only at end of stream)."""
  chunks, got = [], 0
  while got < size:
    chunk = stream.read(size - got)
    if not chunk:
      break
    chunks.append(chunk)
    got += len(chunk)
  return b"".join(chunks)


def pipe_frames(args: list[str], frame_bytes: int, what: str) -> Iterator[bytes]:
  """Runs ffmpeg writing raw frames to stdout; yields exactly ``frame_bytes`` at a time.

  The process is killed if the consumer stops early; a partial last frame or a non-zero exit
  raises FFmpegError (stderr goes to a temporary file, so it cannot block the pipe).
  """
  args = [find_tool(args[0])] + list(args[1:])
  with tempfile.TemporaryFile() as errors:
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=errors)
    finished = False
    try:
      while True:
        data = read_exactly(process.stdout, frame_bytes)
        if not data:
          break
        if len(data) != frame_bytes:
          process.wait()
          raise FFmpegError(f"{what}: ffmpeg output ended inside a frame "
                            f"({len(data)} of {frame_bytes} bytes)")
        yield data
      finished = True
    finally:
      if not finished and process.poll() is None:
        process.kill()
      process.stdout.close()
      code = process.wait()
    if code:
      errors.seek(0)
      raise FFmpegError(f"{what} failed (exit {code}): {_last_line(errors.read())}")


class FFmpegFrames(FrameSource):
  """A video file decoded by ffmpeg (first video stream, no auto-rotation) to RGB.

  ffmpeg converts to ``rgb24`` with its defaults (BT.601 limited range for untagged YUV), so
  ``yuv_method`` is ``"ffmpeg"``.
  """

  yuv_method = "ffmpeg"

  def __init__(self, path: str, frame_rate: Fraction | float | str | None = None):
    info = probe_video(path)
    self.path = path
    self.width, self.height = info["width"], info["height"]
    self.frame_rate = Fraction(frame_rate) if frame_rate is not None else info["frame_rate"]
    self.num_frames = info["num_frames"]

  def _pipe(self, pix_fmt: str, frame_bytes: int) -> Iterator[bytes]:
    return pipe_frames(["ffmpeg", "-nostdin", "-v", "error", "-noautorotate", "-i", self.path,
                        "-map", "0:v:0", "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
                       frame_bytes, f"decoding {self.path}")

  def __iter__(self) -> Iterator[np.ndarray]:
    shape = (self.height, self.width, 3)
    for data in self._pipe("rgb24", self.height * self.width * 3):
      yield np.frombuffer(data, np.uint8).reshape(shape).copy()

  def iter_yuv(self) -> Iterator[Planes]:
    """The frames as ffmpeg converts them to ``yuv420p`` (no round trip through RGB)."""
    for data in self._pipe("yuv420p", yuv420_frame_bytes(self.height, self.width)):
      yield split_yuv420(data, self.height, self.width)


class YUVFrames(FrameSource):
  """A raw 8-bit ``yuv420p`` file of ``width x height`` frames, converted to RGB on reading."""

  def __init__(self, path: str, width: int, height: int,
               frame_rate: Fraction | float | str | None = None, method: str = "ffmpeg"):
    if width <= 0 or height <= 0:
      raise FrameSourceError(f"frame size {width}x{height} must be positive")
    if method not in YUV_METHODS:
      raise ValueError(f"method must be one of {YUV_METHODS}, got {method!r}")
    if not os.path.isfile(path):
      raise FrameSourceError(f"{path}: no such file")
    self.path = path
    self.width, self.height = int(width), int(height)
    self.frame_rate = None if frame_rate is None else Fraction(frame_rate)
    self.yuv_method = method
    self.frame_bytes = yuv420_frame_bytes(self.height, self.width)
    size = os.path.getsize(path)
    if size == 0:
      raise FrameSourceError(f"{path}: empty file")
    if size % self.frame_bytes:
      raise FrameSourceError(
          f"{path}: size {size} bytes is not a multiple of the {width}x{height} yuv420p frame "
          f"size {self.frame_bytes} bytes (wrong width / height, or not 8-bit 4:2:0?)")
    self.num_frames = size // self.frame_bytes

  def iter_yuv(self) -> Iterator[Planes]:
    with open(self.path, "rb") as f:
      for _ in range(self.num_frames):
        data = f.read(self.frame_bytes)
        if len(data) != self.frame_bytes:
          raise FrameSourceError(f"{self.path}: file shrank while reading")
        yield split_yuv420(data, self.height, self.width)

  def __iter__(self) -> Iterator[np.ndarray]:
    for planes in self.iter_yuv():
      yield yuv420_to_rgb(*planes, method=self.yuv_method)


def parse_size(text: str | None) -> tuple[int | None, int | None]:
  """``"WIDTHxHEIGHT"`` -> ``(width, height)`` (None -> ``(None, None)``); FrameSourceError if
  malformed."""
  if not text:
    return None, None
  try:
    width, height = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise FrameSourceError(f"bad frame size {text!r}: use WIDTHxHEIGHT") from None
  return width, height


def open_frames(path: str, width: int | None = None, height: int | None = None,
                frame_rate: Fraction | float | str | None = None) -> FrameSource:
  """A folder -> FolderFrames; ``*.yuv`` (needs width, height) -> YUVFrames; else FFmpegFrames."""
  if os.path.isdir(path):
    return FolderFrames(path, frame_rate)
  if path.lower().endswith(".yuv"):
    if width is None or height is None:
      raise FrameSourceError(f"{path}: raw YUV needs the frame width and height")
    return YUVFrames(path, width, height, frame_rate)
  return FFmpegFrames(path, frame_rate)


# -- sinks ------------------------------------------------------------------------------------


#: File names of :func:`write_png_frames` (``.format(index)``, from 1).
PNG_FRAME_NAME = "f{:03d}.png"


def write_png_frames(frames: Iterable[np.ndarray], folder: str,
                     name_format: str = PNG_FRAME_NAME, start: int = 1,
                     force: bool = False, protect: tuple[str, ...] = ()) -> int:
  """Writes RGB frames as ``folder/f001.png, f002.png, ...``; returns the number written.

  The folder is created if needed. Each file is written atomically; an existing file is never
  replaced unless ``force``, the ``protect`` files (the inputs) never (FileExistsError, the
  frames before it stay written).
  """
  os.makedirs(folder, exist_ok=True)
  count, shape = 0, None
  for index, rgb in enumerate(frames, start):
    _check_rgb(rgb)
    if shape is None:
      shape = rgb.shape
    elif rgb.shape != shape:
      raise ValueError(f"frame {index} is {rgb.shape}, the first was {shape}")
    write_png(os.path.join(folder, name_format.format(index)), Image.fromarray(rgb, "RGB"),
              force, protect)
    count += 1
  return count


def write_yuv420(frames: Iterable[np.ndarray | Planes], path: str, force: bool = False,
                 protect: tuple[str, ...] = ()) -> int:
  """Writes frames (RGB arrays or ``(y, u, v)`` planes) as one raw ``yuv420p`` file.

  Streams frame by frame into a temporary file renamed at the end (atomic); refuses to replace
  an existing file unless ``force``. Returns the number of frames.
  """
  count = 0

  def write(tmp: str) -> None:
    nonlocal count
    shape = None
    with open(tmp, "wb") as f:
      for frame in frames:
        planes = rgb_to_yuv420(frame) if isinstance(frame, np.ndarray) else tuple(frame)
        data = join_yuv420(*planes)
        if shape is None:
          shape = planes[0].shape
        elif planes[0].shape != shape:
          raise ValueError(f"frame {count} is {planes[0].shape}, the first was {shape}")
        f.write(data)
        count += 1
      if not count:
        raise ValueError("no frames to write")

  atomic_write(path, write, force, protect)
  return count
