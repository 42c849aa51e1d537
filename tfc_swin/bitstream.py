"""The tfc_swin file format (version 1): a small header, the entropy-coded strings, a CRC32.

Layout (integers marked ``varint`` are unsigned LEB128; all others big-endian)::

    magic        4 bytes   b"TFSW"
    version      1 byte    1
    color mode   1 byte    0 RGB, 1 grayscale, 2 RGBA, 3 grayscale + alpha
    model name   varint length + UTF-8
    config name  varint length + UTF-8
    fingerprint  8 bytes   first 8 bytes of the sha256 of the model's weights
    height       varint
    width        varint
    index check  4 bytes   checksum of the encoder's scale indexes (see codecs.index_checksum)
    n strings    1 byte    entropy-coded strings: z first, then y (one per ChARM slice)
    strings      n x (varint length + bytes)
    alpha        only for modes 2 and 3: varint length + zlib-compressed alpha plane
    crc32        4 bytes   CRC32 of everything before it

Every malformed input raises :class:`BitstreamError` with a one-line message.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib

MAGIC = b"TFSW"
VERSION = 1
COLOR_MODES = {"RGB": 0, "L": 1, "RGBA": 2, "LA": 3}
_MODE_NAMES = {v: k for k, v in COLOR_MODES.items()}


class BitstreamError(ValueError):
  """A file that is not a valid tfc_swin bitstream, or not one for this model."""


@dataclasses.dataclass(frozen=True)
class Header:
  model: str
  config: str
  fingerprint: str  # 16 hex digits
  height: int
  width: int
  color_mode: str = "RGB"
  index_checksum: int = 0

  @property
  def has_alpha(self) -> bool:
    return self.color_mode in ("RGBA", "LA")


@dataclasses.dataclass(frozen=True)
class Bitstream:
  header: Header
  strings: list[bytes]
  alpha: bytes = b""  # zlib-compressed alpha plane (uint8, height x width)


def _varint(n: int) -> bytes:
  if n < 0:
    raise ValueError("varint must be non-negative")
  out = bytearray()
  while True:
    byte, n = n & 0x7F, n >> 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


class _Reader:

  def __init__(self, data: bytes):
    self.data, self.pos = data, 0

  def take(self, n: int) -> bytes:
    if self.pos + n > len(self.data):
      raise BitstreamError("file is truncated")
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def varint(self) -> int:
    value = shift = 0
    while True:
      byte = self.take(1)[0]
      value |= (byte & 0x7F) << shift
      if not byte & 0x80:
        return value
      shift += 7
      if shift > 63:
        raise BitstreamError("file is corrupted (bad length field)")

  def text(self) -> str:
    try:
      return self.take(self.varint()).decode("utf-8")
    except UnicodeDecodeError:
      raise BitstreamError("file is corrupted (bad model name)") from None


def pack(stream: Bitstream) -> bytes:
  """Serializes a bitstream to bytes."""
  h = stream.header
  fingerprint = bytes.fromhex(h.fingerprint)
  if len(fingerprint) != 8:
    raise ValueError("fingerprint must be 16 hex digits")
  if not 0 < len(stream.strings) < 256:
    raise ValueError("between 1 and 255 strings")
  if h.has_alpha != bool(stream.alpha):
    raise ValueError("alpha plane present iff the color mode has alpha")
  out = bytearray(MAGIC)
  out += struct.pack(">BB", VERSION, COLOR_MODES[h.color_mode])
  for text in (h.model, h.config):
    raw = text.encode("utf-8")
    out += _varint(len(raw)) + raw
  out += fingerprint + _varint(h.height) + _varint(h.width)
  out += struct.pack(">IB", h.index_checksum, len(stream.strings))
  for s in stream.strings:
    out += _varint(len(s)) + s
  if h.has_alpha:
    out += _varint(len(stream.alpha)) + stream.alpha
  out += struct.pack(">I", zlib.crc32(out))
  return bytes(out)


def unpack(data: bytes) -> Bitstream:
  """Parses bytes written by :func:`pack`; raises BitstreamError on anything else."""
  if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
    raise BitstreamError("not a tfc_swin file (bad magic bytes)")
  r = _Reader(data)
  r.take(len(MAGIC))
  version, mode = struct.unpack(">BB", r.take(2))
  if version != VERSION:
    raise BitstreamError(f"unsupported format version {version} (this build reads {VERSION})")
  if len(data) < 4 or struct.unpack(">I", data[-4:])[0] != zlib.crc32(data[:-4]):
    raise BitstreamError("file is corrupted or truncated (checksum mismatch)")
  if mode not in _MODE_NAMES:
    raise BitstreamError(f"file is corrupted (unknown color mode {mode})")
  model, config = r.text(), r.text()
  fingerprint = r.take(8).hex()
  height, width = r.varint(), r.varint()
  index_checksum, count = struct.unpack(">IB", r.take(5))
  strings = [r.take(r.varint()) for _ in range(count)]
  header = Header(model, config, fingerprint, height, width, _MODE_NAMES[mode], index_checksum)
  alpha = r.take(r.varint()) if header.has_alpha else b""
  if r.pos != len(data) - 4:
    raise BitstreamError("file is corrupted (trailing bytes)")
  if height == 0 or width == 0:
    raise BitstreamError("file is corrupted (empty image)")
  return Bitstream(header, strings, alpha)


def compress_alpha(alpha: bytes) -> bytes:
  return zlib.compress(alpha, 9)


def decompress_alpha(data: bytes, size: int) -> bytes:
  try:
    alpha = zlib.decompress(data)
  except zlib.error:
    raise BitstreamError("file is corrupted (bad alpha plane)") from None
  if len(alpha) != size:
    raise BitstreamError("file is corrupted (alpha plane has the wrong size)")
  return alpha
