"""The tfc_swin video file format (version 1), written and read one frame at a time.

Layout (integers marked ``varint`` are unsigned LEB128; all others big-endian)::

    header
      magic         4 bytes   b"TFSV"   (images are b"TFSW", see tfc_swin.bitstream)
      version       1 byte    1
      model name    varint length + UTF-8
      config name   varint length + UTF-8
      fingerprint   8 bytes   first 8 bytes of the sha256 of the model's weights
      height        varint
      width         varint
      rate          varint numerator, varint denominator (frames per second, e.g. 30000/1001)
      GOP size      varint    I-frame period: at most GOP size - 1 P frames follow an I frame
      frame count   varint    0 = not known when the header was written (see the trailer)
      header crc32  4 bytes   CRC32 of the header bytes above
    frame record, once per frame
      frame type    1 byte    0 = I, 1 = P
      index check   4 bytes   checksum of the encoder's scale indexes (0 = none)
      payload size  varint
      payload       varint number of strings, then each string as varint length + bytes
      frame crc32   4 bytes   CRC32 of the record bytes above
    trailer
      end marker    1 byte    0xFF
      frame count   varint    number of frame records
      file crc32    4 bytes   CRC32 of every byte of the file before it

Frames are appended by :class:`VideoWriter` to an open file object (pipes work: nothing is
patched afterwards) and yielded by :class:`VideoReader`, so memory stays at one frame whatever
the length. Every malformed input raises a :class:`VideoBitstreamError` (a
:class:`tfc_swin.bitstream.BitstreamError`) with a one-line message: :class:`UnsupportedVideoError`
(not a video file, unknown version) or :class:`CorruptVideoError` (anything else: damaged,
truncated or crafted), which also derive from the image format's ``UnsupportedFileError`` /
``CorruptFileError`` when :mod:`tfc_swin.bitstream` defines them. Varints must use their minimal
encoding (at most 10 bytes); names are printable UTF-8. Sizes and counts are
checked against fixed limits and against the bytes left in the file before anything is
allocated; reads of unknown-size streams go in chunks of at most 1 MiB, so a forged length
costs no more memory than the data actually present. A frame is only yielded after its CRC
has been checked; the trailer CRC is checked after the last frame.
"""
from __future__ import annotations

import dataclasses
import io
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import BinaryIO

from tfc_swin import bitstream as _image_format
from tfc_swin.bitstream import MAGIC as IMAGE_MAGIC
from tfc_swin.bitstream import BitstreamError, read_varint, varint
from tfc_swin.fileio import atomic_write

# The image format's cause classes, where this build has them (else plain BitstreamError).
_UnsupportedFile = getattr(_image_format, "UnsupportedFileError", BitstreamError)
_CorruptFile = getattr(_image_format, "CorruptFileError", BitstreamError)

MAGIC = b"TFSV"
VERSION = 1
FRAME_TYPES = {"I": 0, "P": 1}
_TYPE_NAMES = {v: k for k, v in FRAME_TYPES.items()}
END_MARKER = 0xFF

MAX_NAME_BYTES = 1024
MAX_SIDE = 1 << 15
MAX_PIXELS = 1 << 26  # 67 Mpixels per frame (8K UHD is 33 M)
MAX_RATE_TERM = (1 << 32) - 1
MAX_GOP = 1 << 16
MAX_FRAMES = (1 << 32) - 1
MAX_FRAME_BYTES = 1 << 30
MAX_STRINGS = 1024
_CHUNK = 1 << 20
# Smallest frame record: type, index check, 1-byte payload size, 1-byte payload, CRC.
MIN_RECORD_BYTES = 1 + 4 + 1 + 1 + 4
MIN_TRAILER_BYTES = 1 + 1 + 4




class VideoBitstreamError(BitstreamError):
  """A file that is not a valid tfc_swin video bitstream."""


class UnsupportedVideoError(VideoBitstreamError, _UnsupportedFile):
  """Not a tfc_swin video file, or a format version this build does not read."""


class CorruptVideoError(VideoBitstreamError, _CorruptFile):
  """A damaged, truncated or crafted video file."""


@dataclasses.dataclass(frozen=True)
class VideoHeader:
  model: str
  config: str
  fingerprint: str  # 16 hex digits
  height: int
  width: int
  frame_rate: Fraction
  gop_size: int
  frame_count: int | None = None  # None: not known when the header is written

  @property
  def pixels(self) -> int:
    return self.height * self.width


@dataclasses.dataclass(frozen=True)
class Frame:
  """One coded frame: its type, entropy-coded strings and scale-index checksum.

  ``num_bytes`` (set by the reader; :meth:`VideoWriter.write_frame` returns the same number) is
  the size of the frame's record in the file, i.e. what the frame costs (8 * num_bytes bits);
  it is not compared.
  """
  frame_type: str  # "I" or "P"
  strings: tuple[bytes, ...]
  index_checksum: int = 0
  num_bytes: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True)
class FrameStats:
  """One coded frame: its record size in the file and the model time to code it (what the
  progress callbacks of :class:`~tfc_swin.video.coder.VideoCoder` get; here, without
  TensorFlow, for processes that only relay them, :mod:`tfc_swin.isolation`)."""
  index: int
  frame_type: str  # "I" or "P"
  num_bytes: int
  seconds: float
  index_checksum: int

  @property
  def bits(self) -> int:
    return 8 * self.num_bytes


def _check_header(h: VideoHeader) -> bytes:
  """Validates a header for writing; returns its fingerprint bytes."""
  try:
    fingerprint = bytes.fromhex(h.fingerprint)
  except ValueError:
    fingerprint = b""
  if len(fingerprint) != 8:
    raise ValueError("fingerprint must be 16 hex digits")
  for name in (h.model, h.config):
    if len(name.encode("utf-8")) > MAX_NAME_BYTES or not name.isprintable():
      raise ValueError(f"model / config names are printable, at most {MAX_NAME_BYTES} bytes")
  problem = _size_problem(h.height, h.width) or _rate_problem(Fraction(h.frame_rate)) \
      or _gop_problem(h.gop_size)
  if problem:
    raise ValueError(problem)
  if h.frame_count is not None and not 0 < h.frame_count <= MAX_FRAMES:
    raise ValueError(f"frame_count must be None or in [1, {MAX_FRAMES}]")
  return fingerprint


def _size_problem(height: int, width: int) -> str:
  if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE) or height * width > MAX_PIXELS:
    return (f"frame size {width}x{height} is outside the limits (sides 1..{MAX_SIDE}, "
            f"at most {MAX_PIXELS} pixels)")
  return ""


def _rate_problem(rate: Fraction) -> str:
  if not (0 < rate.numerator <= MAX_RATE_TERM and 0 < rate.denominator <= MAX_RATE_TERM):
    return f"frame rate {rate} is not a positive rational with 32-bit terms"
  return ""


def _gop_problem(gop: int) -> str:
  if not 0 < gop <= MAX_GOP:
    return f"GOP size {gop} is outside 1..{MAX_GOP}"
  return ""


def pack_header(header: VideoHeader) -> bytes:
  """Serializes a header, including its CRC."""
  fingerprint = _check_header(header)
  rate = Fraction(header.frame_rate)
  out = bytearray(MAGIC) + bytes([VERSION])
  for text in (header.model, header.config):
    raw = text.encode("utf-8")
    out += varint(len(raw)) + raw
  out += fingerprint + varint(header.height) + varint(header.width)
  out += varint(rate.numerator) + varint(rate.denominator) + varint(header.gop_size)
  out += varint(header.frame_count or 0)
  out += struct.pack(">I", zlib.crc32(out))
  return bytes(out)


def frame_record(frame: Frame) -> bytes:
  """Serializes one frame record (type, index check, payload, CRC)."""
  if frame.frame_type not in FRAME_TYPES:
    raise ValueError(f"frame type must be 'I' or 'P', got {frame.frame_type!r}")
  if not 0 < len(frame.strings) <= MAX_STRINGS:
    raise ValueError(f"a frame has between 1 and {MAX_STRINGS} strings")
  if not 0 <= frame.index_checksum < 1 << 32:
    raise ValueError("index_checksum must fit 32 bits")
  payload = bytearray(varint(len(frame.strings)))
  for s in frame.strings:
    payload += varint(len(s)) + bytes(s)
  if len(payload) > MAX_FRAME_BYTES:
    raise ValueError(f"frame payload over {MAX_FRAME_BYTES} bytes")
  out = bytearray([FRAME_TYPES[frame.frame_type]])
  out += struct.pack(">I", frame.index_checksum) + varint(len(payload)) + payload
  out += struct.pack(">I", zlib.crc32(out))
  return bytes(out)


class VideoWriter:
  """Appends frame records to an open binary file object; :meth:`close` writes the trailer.

  The header is written on construction. The first frame must be an I frame and at most
  ``gop_size - 1`` P frames may follow an I frame. As a context manager the trailer is
  written on a normal exit (not after an exception). The file object is not closed.
  """

  def __init__(self, file: BinaryIO, header: VideoHeader):
    self.header = header
    self._file = file
    self._crc = 0
    self.bytes_written = 0
    self.frames_written = 0
    self._run = 0  # frames since the last I frame
    self.closed = False
    self._write(pack_header(header))

  def _write(self, data: bytes) -> None:
    self._file.write(data)
    self._crc = zlib.crc32(data, self._crc)
    self.bytes_written += len(data)

  def write_frame(self, frame: Frame) -> int:
    """Appends one frame; returns the size of its record in bytes."""
    if self.closed:
      raise ValueError("the writer is closed")
    if frame.frame_type == "P":
      if self.frames_written == 0:
        raise ValueError("the first frame must be an I frame")
      if self._run + 1 >= self.header.gop_size:
        raise ValueError(f"more than {self.header.gop_size - 1} P frames in a row "
                         f"(GOP size {self.header.gop_size})")
    count = self.header.frame_count
    if count is not None and self.frames_written >= count:
      raise ValueError(f"the header declares {count} frames")
    record = frame_record(frame)
    self._write(record)
    self._run = 0 if frame.frame_type == "I" else self._run + 1
    self.frames_written += 1
    return len(record)

  def close(self) -> int:
    """Writes the trailer; returns the total file size. Idempotent."""
    if self.closed:
      return self.bytes_written
    count = self.header.frame_count
    if self.frames_written == 0:
      raise ValueError("a video needs at least one frame")
    if count is not None and self.frames_written != count:
      raise ValueError(f"the header declares {count} frames, {self.frames_written} written")
    self._write(bytes([END_MARKER]) + varint(self.frames_written))
    self._write(struct.pack(">I", self._crc))
    self.closed = True
    return self.bytes_written

  def __enter__(self) -> VideoWriter:
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.close()


def _remaining(file: BinaryIO) -> int | None:
  """Bytes left after the current position, or None for unseekable streams."""
  try:
    if isinstance(file, io.BytesIO):
      return len(file.getbuffer()) - file.tell()
    if not file.seekable():
      return None
    try:
      size = os.fstat(file.fileno()).st_size
    except (OSError, AttributeError, io.UnsupportedOperation):
      pos = file.tell()
      size = file.seek(0, io.SEEK_END)
      file.seek(pos)
    return max(0, size - file.tell())
  except (OSError, ValueError, io.UnsupportedOperation):
    return None


class VideoReader:
  """Reads a video file frame by frame from an open binary file object.

  The header is read and checked on construction (``reader.header``); iterating yields
  :class:`Frame` objects and checks the trailer after the last one. Single pass.
  """

  def __init__(self, file: BinaryIO):
    self._file = file
    self._left = _remaining(file)
    self._crc = self._record_crc = 0
    self.bytes_read = 0
    self.frames_read = 0
    self._iterated = False
    self.header = self._read_header()

  # -- low-level reads ---------------------------------------------------------------------

  def _take(self, n: int, what: str = "") -> bytes:
    if self._left is not None:
      if n > self._left:
        raise CorruptVideoError(f"file is truncated{what}")
      self._left -= n
    chunks, got = [], 0
    while got < n:
      chunk = self._file.read(min(_CHUNK, n - got))
      if not chunk:
        raise CorruptVideoError(f"file is truncated{what}")
      chunks.append(chunk)
      got += len(chunk)
    data = b"".join(chunks)
    self._crc = zlib.crc32(data, self._crc)
    self._record_crc = zlib.crc32(data, self._record_crc)
    self.bytes_read += n
    return data

  def varint(self, what: str) -> int:
    value = read_varint(lambda: self._take(1)[0])
    if value is None:
      raise CorruptVideoError(f"file is corrupted (bad {what} field)")
    return value

  def _text(self, what: str) -> str:
    size = self.varint(what)
    if size > MAX_NAME_BYTES:
      raise CorruptVideoError(f"file is corrupted ({what} longer than {MAX_NAME_BYTES} bytes)")
    try:
      text = self._take(size).decode("utf-8")
    except UnicodeDecodeError:
      text = None
    if text is None or not text.isprintable():
      raise CorruptVideoError(f"file is corrupted (bad {what})")
    return text

  # -- structure ---------------------------------------------------------------------------

  def _read_header(self) -> VideoHeader:
    try:
      magic = self._take(len(MAGIC))
    except VideoBitstreamError:
      magic = b""
    if magic != MAGIC:
      if magic == IMAGE_MAGIC:
        raise UnsupportedVideoError("this is a tfc_swin image file, not a video")
      raise UnsupportedVideoError("not a tfc_swin video file (bad magic bytes)")
    version = self._take(1)[0]
    if version != VERSION:
      raise UnsupportedVideoError(
          f"unsupported video format version {version} (this build reads {VERSION})")
    model, config = self._text("model name"), self._text("config name")
    fingerprint = self._take(8).hex()
    height, width = self.varint("height"), self.varint("width")
    problem = _size_problem(height, width)
    if problem:
      raise CorruptVideoError(f"file is corrupted ({problem})")
    numerator, denominator = self.varint("frame rate"), self.varint("frame rate")
    if not (0 < numerator <= MAX_RATE_TERM and 0 < denominator <= MAX_RATE_TERM):
      raise CorruptVideoError("file is corrupted (bad frame rate)")
    gop = self.varint("GOP size")
    problem = _gop_problem(gop)
    if problem:
      raise CorruptVideoError(f"file is corrupted ({problem})")
    count = self.varint("frame count")
    if count > MAX_FRAMES:
      raise CorruptVideoError("file is corrupted (bad frame count)")
    expected = self._crc
    if struct.unpack(">I", self._take(4))[0] != expected:
      raise CorruptVideoError("file is corrupted (header checksum mismatch)")
    if (count and self._left is not None
        and count * MIN_RECORD_BYTES + MIN_TRAILER_BYTES > self._left):
      raise CorruptVideoError(
          f"file is corrupted or truncated (header declares {count} frames, "
          f"{self._left} bytes left)")
    return VideoHeader(model, config, fingerprint, height, width,
                       Fraction(numerator, denominator), gop, count or None)

  def _read_frame(self, index: int, frame_type: int) -> Frame:
    """Reads the rest of a record whose type byte the caller has read."""
    where = f" in frame {index}"
    start = self.bytes_read - 1
    self._record_crc = zlib.crc32(bytes([frame_type]))
    checksum = struct.unpack(">I", self._take(4, where))[0]
    size = self.varint("payload size")
    if size > MAX_FRAME_BYTES or (self._left is not None and size > self._left):
      raise CorruptVideoError(f"file is corrupted or truncated (frame {index} payload size "
                                f"{size} exceeds the bytes left)")
    payload = self._take(size, where)
    expected = self._record_crc
    if struct.unpack(">I", self._take(4, where))[0] != expected:
      raise CorruptVideoError(f"file is corrupted (frame {index} checksum mismatch)")
    if frame_type not in _TYPE_NAMES:
      raise CorruptVideoError(f"file is corrupted (frame {index} has unknown type "
                                f"{frame_type})")
    strings = _parse_payload(payload, index)
    return Frame(_TYPE_NAMES[frame_type], strings, checksum,
                 num_bytes=self.bytes_read - start)

  def __iter__(self) -> Iterator[Frame]:
    if self._iterated:
      raise ValueError("a VideoReader can be iterated once")
    self._iterated = True
    return self._frames()

  def _frames(self) -> Iterator[Frame]:
    declared = self.header.frame_count
    index = run = 0
    while True:
      frame_type = self._take(1, " (no end marker)")[0]
      if frame_type == END_MARKER:
        break
      if declared is not None and index >= declared:
        raise CorruptVideoError(f"file is corrupted (more frames than the {declared} "
                                  "declared)")
      if self._left is not None and self._left < MIN_RECORD_BYTES - 1 + MIN_TRAILER_BYTES:
        raise CorruptVideoError("file is truncated")
      frame = self._read_frame(index, frame_type)
      if frame.frame_type == "P":
        if index == 0:
          raise CorruptVideoError("file is corrupted (the first frame is not an I frame)")
        run += 1
        if run >= self.header.gop_size:
          raise CorruptVideoError(f"file is corrupted (frame {index}: more P frames in a "
                                    f"row than GOP size {self.header.gop_size} allows)")
      else:
        run = 0
      index += 1
      self.frames_read = index
      yield frame
    count = self.varint("trailer frame count")
    expected = self._crc
    if struct.unpack(">I", self._take(4, " (trailer)"))[0] != expected:
      raise CorruptVideoError("file is corrupted (file checksum mismatch)")
    if index == 0:
      raise CorruptVideoError("file is corrupted (no frames)")
    if count != index:
      raise CorruptVideoError(f"file is corrupted (the trailer says {count} frames, the "
                                f"file has {index})")
    if declared is not None and index != declared:
      raise CorruptVideoError(f"file is corrupted or truncated (the header declares "
                                f"{declared} frames, the file has {index})")
    trailing = self._left if self._left is not None else len(self._file.read(1))
    if trailing:
      raise CorruptVideoError("file is corrupted (trailing bytes)")


def _parse_payload(payload: bytes, index: int) -> tuple[bytes, ...]:
  pos = 0

  def next_byte() -> int:
    nonlocal pos
    if pos >= len(payload):
      raise CorruptVideoError(f"file is corrupted (frame {index} payload is cut short)")
    pos += 1
    return payload[pos - 1]

  def varint() -> int:
    value = read_varint(next_byte)
    if value is None:
      raise CorruptVideoError(f"file is corrupted (frame {index} bad length field)")
    return value

  count = varint()
  if not 0 < count <= min(MAX_STRINGS, len(payload)):
    raise CorruptVideoError(f"file is corrupted (frame {index} has {count} strings)")
  strings = []
  for _ in range(count):
    size = varint()
    if size > len(payload) - pos:
      raise CorruptVideoError(f"file is corrupted (frame {index} string overruns its payload)")
    strings.append(payload[pos:pos + size])
    pos += size
  if pos != len(payload):
    raise CorruptVideoError(f"file is corrupted (frame {index} payload has trailing bytes)")
  return tuple(strings)


def pack_video(header: VideoHeader, frames: Iterable[Frame]) -> bytes:
  """A whole video file in memory (for small videos and tests)."""
  buffer = io.BytesIO()
  with VideoWriter(buffer, header) as writer:
    for frame in frames:
      writer.write_frame(frame)
  return buffer.getvalue()


def unpack_video(data: bytes) -> tuple[VideoHeader, list[Frame]]:
  """Parses a whole video file in memory; raises VideoBitstreamError on anything else."""
  reader = VideoReader(io.BytesIO(data))
  return reader.header, list(reader)


def write_video(path: str, header: VideoHeader, frames: Iterable[Frame],
                force: bool = False, protect: tuple[str, ...] = ()) -> int:
  """Streams ``frames`` (any iterable, e.g. a generator that encodes) to ``path`` atomically.

  Refuses to replace an existing file unless ``force``; returns the file size.
  """
  size = 0

  def write(tmp: str) -> None:
    nonlocal size
    with open(tmp, "wb") as f:
      writer = VideoWriter(f, header)
      for frame in frames:
        writer.write_frame(frame)
      size = writer.close()
      f.flush()
      os.fsync(f.fileno())

  atomic_write(path, write, force, protect)
  return size


def read_header(path: str) -> VideoHeader:
  """The header of a video file (reads only the header)."""
  with open(path, "rb") as f:
    return VideoReader(f).header


def read_frames(path: str) -> Iterator[Frame]:
  """Yields the frames of a video file one at a time (the file stays open while iterating)."""
  with open(path, "rb") as f:
    yield from VideoReader(f)
