"""Video <-> ``.tfsv`` file coding with a P-frame codec, streamed frame by frame.

Low-delay P with a fixed GOP (Zhu et al. 2022 sec. 4.1): frame ``i`` is an I frame when
``i % gop_size == 0``, otherwise a P frame predicted from the previous DECODED frame. The
encoder takes each decoded frame back from the codec (bit-exactly the decoder's) as the next
reference, so encoder and decoder stay in lock step. Memory holds the current frame, the
reference and one frame record, whatever the sequence length: frames are pulled from the
source one at a time, each record is written as soon as it is coded (atomically: a temporary
file renamed at the end) and :meth:`VideoCoder.decompress` yields frames as it decodes them.

A :class:`VideoCoder` wraps anything with the coding functions of
:class:`~tfc_swin.codecs.video.PFrameCodec` (``compress_iframe``, ``compress_pframe``,
``decompress_iframe``, ``decompress_pframe``): an in-memory codec, or a SavedModel written by
:func:`export_video_codec` (its ``serving_module()``, plus the model-info JSON of image exports,
:data:`~tfc_swin.coder.MODEL_INFO_FILE`, which also records the strings per frame type). The two
write byte-identical files. Files record the model's name, config and weight fingerprint;
decoding a file of another model raises :class:`~tfc_swin.bitstream.WrongModelError` before any
model work.
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any, BinaryIO

import numpy as np
import tensorflow as tf

from tfc_swin.bitstream import DEFAULT_MAX_PIXELS, check_pixel_limit
from tfc_swin.codecs.image import coding_options
from tfc_swin.codecs.video import PFrameCodec
from tfc_swin.coder import ModelId, ModelLoadError, read_model_info, save_model
from tfc_swin.fileio import atomic_write
from tfc_swin.video.bitstream import (CorruptVideoError, Frame, FrameStats, VideoHeader,
                                      VideoReader, VideoWriter)
from tfc_swin.video.frames import FrameSourceError
# ``kind`` of a video model in its model-info JSON (defined with the zoo, which needs no TF).
from tfc_swin.zoo import VIDEO_MODEL_KIND

DEFAULT_GOP_SIZE = 12
DEFAULT_FRAME_RATE = Fraction(30)


@dataclasses.dataclass(frozen=True)
class VideoStats:
  """A compressed sequence: its header, file size and per-frame stats."""
  header: VideoHeader
  file_bytes: int
  frames: tuple[FrameStats, ...]

  @property
  def num_frames(self) -> int:
    return len(self.frames)

  @property
  def bpp(self) -> float:
    """Bits per pixel of the whole file (header and trailer included)."""
    return 8.0 * self.file_bytes / (self.header.pixels * self.num_frames)

  @property
  def seconds(self) -> float:
    return sum(f.seconds for f in self.frames)


@dataclasses.dataclass(frozen=True)
class EncodedFrame:
  """What :meth:`VideoCoder.encode_frames` yields per frame."""
  frame: Frame
  reconstruction: np.ndarray  # the decoded frame (uint8, H x W x 3), the next reference
  seconds: float


class VideoCoder:
  """Compresses frame sequences to ``.tfsv`` files and back with one P-frame model."""

  def __init__(self, model: Any, model_id: ModelId, description: str = "",
               num_strings: dict[str, int] | None = None):
    self.model = model
    self.model_id = model_id
    self.description = description or model_id.name
    self.num_strings = dict(num_strings or model.num_strings)  # per frame type, "I" and "P"

  @classmethod
  def from_codec(cls, codec: PFrameCodec, name: str, description: str = "") -> VideoCoder:
    """Wraps an in-memory codec, building its coding tables unless they are current."""
    codec.ensure_prepared()
    return cls(codec, ModelId(name, codec.config.name, codec.fingerprint()), description)

  @classmethod
  def from_saved_model(cls, path: str) -> VideoCoder:
    """Loads a SavedModel written by :func:`export_video_codec`."""
    info = read_model_info(path)
    if info.get("kind") != VIDEO_MODEL_KIND:
      raise ModelLoadError(f"{path}: an image model ({info.get('config')}), not a video model")
    return cls(tf.saved_model.load(path),
               ModelId(info["name"], info["config"], info["fingerprint"]),
               info.get("description", ""), info["num_strings"])

  @property
  def name(self) -> str:
    return self.model_id.name

  # -- encoding ---------------------------------------------------------------------------------
  def encode_frames(self, frames: Iterable[np.ndarray], gop_size: int = DEFAULT_GOP_SIZE
                    ) -> Iterator[EncodedFrame]:
    """Codes uint8 (H, W, 3) frames lazily: an I frame every ``gop_size`` frames, P frames
    (each from the previous decoded frame) in between."""
    if gop_size < 1:
      raise ValueError(f"gop_size must be positive, got {gop_size}")
    reference, shape = None, None
    for index, rgb in enumerate(frames):
      shape = _check_frame(rgb, shape, index)
      start = time.perf_counter()
      if index % gop_size == 0:
        frame_type, out = "I", self.model.compress_iframe(tf.constant(rgb))
      else:
        frame_type, out = "P", self.model.compress_pframe(tf.constant(rgb), reference)
      reference = out["image"]
      strings = tuple(bytes(s) for s in out["strings"].numpy())
      frame = Frame(frame_type, strings, int(out["index_checksum"]))
      yield EncodedFrame(frame, reference.numpy(), time.perf_counter() - start)

  def compress(self, source: Iterable[np.ndarray], output_path: str,
               gop_size: int = DEFAULT_GOP_SIZE, frame_rate: Fraction | str | None = None,
               force: bool = False,
               progress: Callable[[FrameStats], None] | None = None) -> VideoStats:
    """Streams the frames of ``source`` (a :class:`~tfc_swin.video.frames.FrameSource` or any
    iterable of uint8 (H, W, 3) frames) into a video file.

    The frame rate is ``frame_rate``, else the source's, else 30. The file is written to a
    temporary file renamed at the end; an existing ``output_path`` is refused unless
    ``force``, the source's own files never. ``progress`` gets each frame's stats.
    """
    frames = iter(source)
    first = next(frames, None)
    if first is None:
      raise FrameSourceError("no frames to compress")
    _check_frame(first, None, 0)
    rate = Fraction(frame_rate or getattr(source, "frame_rate", None) or DEFAULT_FRAME_RATE)
    header = VideoHeader(self.model_id.name, self.model_id.config, self.model_id.fingerprint,
                         first.shape[0], first.shape[1], rate, gop_size,
                         getattr(source, "num_frames", None))
    frames = _prepend([first], frames)
    del first
    stats: list[FrameStats] = []
    file_bytes = 0

    def write(tmp: str) -> None:
      nonlocal file_bytes
      with open(tmp, "wb") as f:
        file_bytes = self._write(f, header, self.encode_frames(frames, gop_size), stats,
                                 progress)
        f.flush()
        os.fsync(f.fileno())

    atomic_write(output_path, write, force, _input_paths(source))
    return VideoStats(header, file_bytes, tuple(stats))

  @staticmethod
  def _write(file: BinaryIO, header: VideoHeader, encoded: Iterable[EncodedFrame],
             stats: list[FrameStats], progress: Callable[[FrameStats], None] | None) -> int:
    writer = VideoWriter(file, header)
    for index, item in enumerate(encoded):
      size = writer.write_frame(item.frame)
      stats.append(FrameStats(index, item.frame.frame_type, size, item.seconds,
                              item.frame.index_checksum))
      if progress is not None:
        progress(stats[-1])
    return writer.close()

  # -- decoding ---------------------------------------------------------------------------------
  def check_compatible(self, header: VideoHeader) -> None:
    """Raises WrongModelError unless the file was made by this model."""
    self.model_id.check_made(header, "video")

  def decompress(self, path: str, progress: Callable[[FrameStats], None] | None = None,
                 max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[np.ndarray]:
    """The decoded uint8 (H, W, 3) frames of a video file, in order, one at a time.

    The header is checked (format, model, pixel limit) before this returns; each frame's
    record and scale indexes are checked as it is decoded (a
    :class:`~tfc_swin.video.bitstream.VideoBitstreamError` names the problem).
    """
    file = open(path, "rb")  # closed by the generator, or here on a bad header
    try:
      reader = VideoReader(file)
      self.check_compatible(reader.header)
      check_pixel_limit(reader.header.height, reader.header.width, max_pixels)
    except BaseException:
      file.close()
      raise
    return self._decoded(file, reader, progress)

  def _decoded(self, file: BinaryIO, reader: VideoReader,
               progress: Callable[[FrameStats], None] | None) -> Iterator[np.ndarray]:
    header = reader.header
    shape = tf.constant([header.height, header.width], tf.int32)
    reference = None
    with file:
      for index, frame in enumerate(reader):
        start = time.perf_counter()
        reference = self._decode_frame(index, frame, reference, shape)
        if progress is not None:
          progress(FrameStats(index, frame.frame_type, frame.num_bytes,
                              time.perf_counter() - start, frame.index_checksum))
        yield reference.numpy()

  def _decode_frame(self, index: int, frame: Frame, reference: tf.Tensor | None,
                    shape: tf.Tensor) -> tf.Tensor:
    """One frame's uint8 tensor; checks its string count and scale-index checksum."""
    expected = self.num_strings[frame.frame_type]
    if len(frame.strings) != expected:
      raise CorruptVideoError(f"file is corrupted (frame {index} has {len(frame.strings)} "
                              f"strings, a {frame.frame_type} frame of {self.name} has "
                              f"{expected})")
    strings = tf.constant(frame.strings, tf.string)
    try:
      if frame.frame_type == "I":
        out = self.model.decompress_iframe(strings, shape)
      else:
        out = self.model.decompress_pframe(strings, reference, shape)
      checksum = int(out["index_checksum"])
    except tf.errors.OpError:
      raise CorruptVideoError(f"file is corrupted (frame {index}: range decoding "
                              "failed)") from None
    if checksum != frame.index_checksum:
      raise CorruptVideoError(
          f"frame {index}: the decoder's scale indexes differ from the encoder's (the file "
          "was altered, or it was encoded by another build or machine type)")
    return out["image"]


def _check_frame(rgb: np.ndarray, shape: tuple[int, ...] | None, index: int
                 ) -> tuple[int, ...]:
  """The frame's shape; ValueError unless it is uint8 (H, W, 3) of the first frame's size."""
  if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3
          and rgb.shape[2] == 3 and 0 not in rgb.shape):
    raise ValueError(f"frame {index}: expected a non-empty uint8 (H, W, 3) array, got "
                     f"{getattr(rgb, 'dtype', type(rgb))} {getattr(rgb, 'shape', '')}")
  if shape is not None and rgb.shape != shape:
    raise ValueError(f"frame {index} is {rgb.shape[1]}x{rgb.shape[0]}, the first frame "
                     f"{shape[1]}x{shape[0]}")
  return rgb.shape


def _prepend(box: list[np.ndarray], rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
  """The frame in ``box``, then ``rest``; the box is emptied so the frame is not kept."""
  yield box.pop()
  yield from rest


def _input_paths(source: Any) -> tuple[str, ...]:
  """The files a frame source reads (never to be overwritten by the output)."""
  path = getattr(source, "path", None)
  return tuple(getattr(source, "paths", ())) + ((path,) if path else ())


def export_video_codec(codec: PFrameCodec, path: str, name: str, description: str = "",
                       extra: dict[str, Any] | None = None) -> ModelId:
  """Writes ``codec`` as a SavedModel to ``path`` (a new folder, written atomically): its
  ``serving_module()`` with the four coding functions as signatures, and the model info (name,
  config, weights fingerprint, description, the video config, strings per frame type, plus
  ``extra``, e.g. the training run). Loads back with :meth:`VideoCoder.from_saved_model`."""
  model_id = VideoCoder.from_codec(codec, name, description).model_id
  save_model(codec, path, {
      "kind": VIDEO_MODEL_KIND, "name": name, "config": codec.config.name,
      "fingerprint": model_id.fingerprint, "description": description,
      "video_config": codec.config.to_dict(), "num_strings": codec.num_strings,
      **coding_options(codec),
      **(extra or {})})
  return model_id
