"""The tfc_swin file format (versions 1 and 2): a small header, the entropy-coded strings, a CRC32.

Layout (integers marked ``varint`` are unsigned LEB128; all others big-endian)::

    magic        4 bytes   b"TFSW"
    version      1 byte    1 or 2
    color mode   1 byte    0 RGB, 1 grayscale, 2 RGBA, 3 grayscale + alpha
    model name   varint length + UTF-8
    config name  varint length + UTF-8
    fingerprint  8 bytes   first 8 bytes of the sha256 of the model's weights
    height       varint
    width        varint
  version 1:
    index check  4 bytes   checksum of all the encoder's scale indexes (codecs.index_checksum)
    n strings    1 byte    entropy-coded strings: z first, then y (one per ChARM slice)
    strings      n x (varint length + bytes)
  version 2:
    tile side    varint    0: one tile, the whole image; else a multiple of 64: the image is
                           cut into tiles of that side (the last row / column smaller), in
                           raster order, each coded on its own as an image
    checksums    varint c, then tiles x c x 4 bytes: per tile, one checksum of all its scale
                           indexes (c = 1) or one per latent slice (c > 1: its last c strings;
                           codecs.slice_checksums)
    strings      varint s, then tiles x s x (varint length + bytes): each tile's strings
  both:
    alpha        only for modes 2 and 3: varint length + zlib-compressed alpha plane
    crc32        4 bytes   CRC32 of everything before it

Version 2 lets the decoder tell float drift in one ChARM slice (numerics) from a changed
string (corruption), and codes large images in tiles with bounded memory. :func:`pack` writes
it only for headers with ``tile_checksums`` (tiled images, or models with several latent
slices exported by this build), and version 1 otherwise, which older builds read.

:func:`unpack` checks everything that needs no model: magic, CRC, field ranges (names of at
most :data:`MAX_NAME_BYTES` printable characters, sides in 1..:data:`MAX_SIDE`, a tile side
that is a multiple of :data:`TILE_MULTIPLE`, index checksums below 2^31 - 1, non-empty strings
(1..255 in version 1), fewer slice checksums than strings per tile, minimal varints) and that
every length stays inside the file, so parsing costs O(file size). Checks against a model
(string count, pixel limit, string sizes, scale indexes) are in :mod:`tfc_swin.coder`.

Every problem raises a :class:`BitstreamError` subclass with a one-line message that names
the cause: :class:`UnsupportedFileError`, :class:`CorruptFileError`, :class:`WrongModelError`,
:class:`TooLargeError` or :class:`NumericsMismatchError`.
"""
from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable, Iterator

MAGIC = b"TFSW"
VERSION = 2  # the newest version this build reads and writes (it reads every older one)
COLOR_MODES = {"RGB": 0, "L": 1, "RGBA": 2, "LA": 3}
_MODE_NAMES = {v: k for k, v in COLOR_MODES.items()}

MAX_NAME_BYTES = 1024
MAX_SIDE = 1 << 20  # pixels per side: keeps all shape arithmetic inside int32
#: Default pixel limit of compress and decompress (:mod:`tfc_swin.coder`, CLI ``--max-pixels``),
#: like Pillow's ``Image.MAX_IMAGE_PIXELS`` but lower: a learned decoder needs about 1 KB of
#: memory per pixel where Pillow needs a few bytes. 16.8 Mpixels = 4096 x 4096.
DEFAULT_MAX_PIXELS = 1 << 24
CHECKSUM_MODULUS = 2 ** 31 - 1  # index checksums are reduced modulo this (codecs.index_checksum)
#: Tile sides are multiples of this: codecs.PAD_MULTIPLE (not imported: that loads TensorFlow),
#: so that tiles need no padding but at the image's bottom and right edges.
TILE_MULTIPLE = 64
_MAX_VARINT_BYTES = 10
_CRC_BYTES = 4


class BitstreamError(ValueError):
  """A file this decoder cannot decode; the subclasses name the cause."""


class UnsupportedFileError(BitstreamError):
  """Not a tfc_swin image file, or a format version this build does not read."""


class CorruptFileError(BitstreamError):
  """A damaged, truncated or crafted file: its fields or data are inconsistent."""


class WrongModelError(BitstreamError):
  """A valid file made by another model (config or weights differ)."""


class TooLargeError(BitstreamError):
  """An image above the pixel limit (or too large for the memory available)."""


class NumericsMismatchError(BitstreamError):
  """The decoder derives slightly different scale indexes than the encoder did (float
  differences in h_s / ChARM between machines or builds); the file itself looks intact."""


def tile_count(height: int, width: int, side: int) -> int:
  """Tiles of an image cut into tiles of ``side`` (0: one tile)."""
  return (-(-height // side) * -(-width // side)) if side else 1


def tiles(height: int, width: int, side: int) -> Iterator[tuple[int, int, int, int]]:
  """(top, left, height, width) of each tile of ``side`` (0: one tile), in raster order (the
  order of a file's tiles)."""
  side = side or max(height, width)
  for top in range(0, height, side):
    for left in range(0, width, side):
      yield top, left, min(side, height - top), min(side, width - left)


def corrupt(problem: str) -> CorruptFileError:
  return CorruptFileError(f"file is corrupted ({problem})")


def check_pixel_limit(height: int, width: int, max_pixels: int | None) -> None:
  """Raises TooLargeError if height x width is above ``max_pixels`` (None: no limit)."""
  if max_pixels is not None and height * width > max_pixels:
    raise TooLargeError(
        f"image is {width}x{height} = {height * width:,} pixels, above the pixel limit of "
        f"{max_pixels:,} (raise it with --max-pixels / max_pixels= for files you trust)")


@dataclasses.dataclass(frozen=True)
class Header:
  model: str
  config: str
  fingerprint: str  # 16 hex digits
  height: int
  width: int
  color_mode: str = "RGB"
  index_checksum: int = 0  # version 1: of all the scale indexes
  tile_side: int = 0  # version 2: 0 = one tile, the whole image
  # Version 2, per tile: one checksum of all its scale indexes, or one per latent slice.
  tile_checksums: tuple[tuple[int, ...], ...] = ()

  @property
  def version(self) -> int:
    return 2 if self.tile_checksums else 1

  def checksums(self, tile: int = 0) -> tuple[int, ...]:
    """The encoder's index checksums of a tile (version 1: the one of the whole image)."""
    return self.tile_checksums[tile] if self.tile_checksums else (self.index_checksum,)

  @property
  def tile_count(self) -> int:
    return tile_count(self.height, self.width, self.tile_side)

  def tiles(self) -> Iterator[tuple[int, int, int, int]]:
    return tiles(self.height, self.width, self.tile_side)

  @property
  def has_alpha(self) -> bool:
    return self.color_mode in ("RGBA", "LA")

  @property
  def pixels(self) -> int:
    return self.height * self.width


@dataclasses.dataclass(frozen=True)
class Bitstream:
  header: Header
  strings: list[bytes]
  alpha: bytes = b""  # zlib-compressed alpha plane (uint8, height x width)


def varint(n: int) -> bytes:
  """Unsigned LEB128 (the length fields of the tfc_swin file formats)."""
  if n < 0:
    raise ValueError("varint must be non-negative")
  out = bytearray()
  while True:
    byte, n = n & 0x7F, n >> 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


def read_varint(next_byte: Callable[[], int]) -> int | None:
  """Decodes one :func:`varint`, taking its bytes from ``next_byte()``; None unless it is a
  minimal encoding of at most 10 bytes (callers name the field in their error)."""
  value = 0
  for i in range(_MAX_VARINT_BYTES):
    byte = next_byte()
    value |= (byte & 0x7F) << (7 * i)
    if not byte & 0x80:
      return None if byte == 0 and i > 0 else value
  return None


class _Reader:
  """Reads fields from the bytes before the CRC; every read is bounds-checked."""

  def __init__(self, data: bytes, end: int):
    self.data, self.pos, self.end = data, 0, end

  def take(self, n: int, what: str) -> bytes:
    if n > self.end - self.pos:
      raise corrupt(f"{what} runs past the end of the file")
    chunk = self.data[self.pos:self.pos + n]
    self.pos += n
    return chunk

  def varint(self, what: str) -> int:
    value = read_varint(lambda: self.take(1, what)[0])
    if value is None:
      raise corrupt(f"bad {what} field")
    return value

  def text(self, what: str) -> str:
    n = self.varint(f"{what} length")
    if n > MAX_NAME_BYTES:
      raise corrupt(f"{what} longer than {MAX_NAME_BYTES} bytes")
    try:
      text = self.take(n, what).decode("utf-8")
    except UnicodeDecodeError:
      raise corrupt(f"bad {what}") from None
    if not text.isprintable():
      raise corrupt(f"bad {what}")
    return text


def _check_fields(stream: Bitstream) -> None:
  """ValueError for fields that :func:`unpack` would refuse."""
  h = stream.header
  if len(bytes.fromhex(h.fingerprint)) != 8:
    raise ValueError("fingerprint must be 16 hex digits")
  if not stream.strings or not all(stream.strings):
    raise ValueError("at least one string, none empty")
  if h.has_alpha != bool(stream.alpha):
    raise ValueError("alpha plane present iff the color mode has alpha")
  if not (0 < h.height <= MAX_SIDE and 0 < h.width <= MAX_SIDE):
    raise ValueError(f"image sides must be in 1..{MAX_SIDE}, got {h.width}x{h.height}")
  if h.tile_side % TILE_MULTIPLE or not 0 <= h.tile_side <= MAX_SIDE:
    raise ValueError(f"the tile side must be 0 or a multiple of {TILE_MULTIPLE}")
  checks = h.tile_checksums or ((h.index_checksum,),)
  if not all(0 <= c < CHECKSUM_MODULUS for tile in checks for c in tile):
    raise ValueError(f"index checksums must be in [0, {CHECKSUM_MODULUS})")
  if h.version == 1 and (h.tile_side or len(stream.strings) > 255):
    raise ValueError("version 1 (no tile_checksums): one tile, at most 255 strings")
  per_tile = len(stream.strings) // h.tile_count
  if (len(checks) != h.tile_count or per_tile * h.tile_count != len(stream.strings)
      or len({len(c) for c in checks}) != 1 or not _fits(len(checks[0]), per_tile)):
    raise ValueError("one checksum tuple and the same number of strings per tile, fewer slice "
                     "checksums than strings")


def _fits(checks: int, strings: int) -> bool:
  """Checksums per tile: one in all, or one per latent slice (fewer than its strings)."""
  return strings > 0 and (checks == 1 or 0 < checks < strings)


def pack(stream: Bitstream) -> bytes:
  """Serializes a bitstream to bytes (ValueError for fields :func:`unpack` would refuse)."""
  _check_fields(stream)
  h = stream.header
  out = bytearray(MAGIC)
  out += struct.pack(">BB", h.version, COLOR_MODES[h.color_mode])
  for text in (h.model, h.config):
    raw = text.encode("utf-8")
    if len(raw) > MAX_NAME_BYTES or not text.isprintable():
      raise ValueError(f"model/config names are printable, at most {MAX_NAME_BYTES} bytes")
    out += varint(len(raw)) + raw
  out += bytes.fromhex(h.fingerprint) + varint(h.height) + varint(h.width)
  if h.version == 1:
    out += struct.pack(">IB", h.index_checksum, len(stream.strings))
  else:
    flat = [c for tile in h.tile_checksums for c in tile]
    out += varint(h.tile_side) + varint(len(h.tile_checksums[0]))
    out += struct.pack(f">{len(flat)}I", *flat)
    out += varint(len(stream.strings) // h.tile_count)
  for s in stream.strings:
    out += varint(len(s)) + s
  if h.has_alpha:
    out += varint(len(stream.alpha)) + stream.alpha
  out += struct.pack(">I", zlib.crc32(out))
  return bytes(out)


def unpack(data: bytes) -> Bitstream:
  """Parses bytes written by :func:`pack`; raises a BitstreamError subclass on anything else."""
  if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
    raise UnsupportedFileError("not a tfc_swin file (bad magic bytes)")
  if len(data) < len(MAGIC) + 2 + _CRC_BYTES:
    raise CorruptFileError("file is truncated")
  version, mode = data[len(MAGIC)], data[len(MAGIC) + 1]
  crc_ok = struct.unpack(">I", data[-_CRC_BYTES:])[0] == zlib.crc32(data[:-_CRC_BYTES])
  if not 1 <= version <= VERSION:
    if crc_ok:
      raise UnsupportedFileError(
          f"unsupported format version {version} (this build reads 1 to {VERSION})")
    raise CorruptFileError(f"file is corrupted or truncated (checksum mismatch; version "
                           f"byte {version}, this build reads versions 1 to {VERSION})")
  if not crc_ok:
    raise CorruptFileError("file is corrupted or truncated (checksum mismatch)")
  if mode not in _MODE_NAMES:
    raise corrupt(f"unknown color mode {mode}")
  r = _Reader(data, len(data) - _CRC_BYTES)
  r.pos = len(MAGIC) + 2
  model, config = r.text("model name"), r.text("config name")
  fingerprint = r.take(8, "fingerprint").hex()
  height, width = r.varint("height"), r.varint("width")
  if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
    raise corrupt(f"image size {width}x{height} outside 1..{MAX_SIDE} per side")
  header = Header(model, config, fingerprint, height, width, _MODE_NAMES[mode])
  header, count = (_read_v1_checks(r, header) if version == 1 else _read_v2_checks(r, header))
  strings = []
  for i in range(count):  # Each string takes at least 2 bytes: O(file size).
    s = r.take(r.varint(f"string {i} length"), f"string {i}")
    if not s:
      raise corrupt(f"entropy-coded string {i} is empty")
    strings.append(s)
  alpha = b""
  if header.has_alpha:
    alpha = r.take(r.varint("alpha length"), "alpha plane")
    if not alpha:
      raise corrupt("alpha plane is empty")
  if r.pos != r.end:
    raise corrupt("trailing bytes")
  return Bitstream(header, strings, alpha)


def _checksum_values(r: _Reader, count: int) -> tuple[int, ...]:
  values = struct.unpack(f">{count}I", r.take(4 * count, "index checksums"))
  for c in values:
    if c >= CHECKSUM_MODULUS:
      raise corrupt(f"index checksum {c} out of range")
  return values


def _read_v1_checks(r: _Reader, header: Header) -> tuple[Header, int]:
  """Version 1: the index checksum and the string count."""
  (checksum,) = _checksum_values(r, 1)
  count = r.take(1, "string count")[0]
  if count == 0:
    raise corrupt("no entropy-coded strings")
  return dataclasses.replace(header, index_checksum=checksum), count


def _read_v2_checks(r: _Reader, header: Header) -> tuple[Header, int]:
  """Version 2: tile side, checksums per tile and the string count (all tiles)."""
  side = r.varint("tile side")
  if side % TILE_MULTIPLE or side > MAX_SIDE:
    raise corrupt(f"tile side {side} is not a multiple of {TILE_MULTIPLE} up to {MAX_SIDE}")
  header = dataclasses.replace(header, tile_side=side)
  tiles, per_tile = header.tile_count, r.varint("checksum count")
  if per_tile == 0:
    raise corrupt("no index checksums")
  flat = _checksum_values(r, tiles * per_tile)
  strings = r.varint("string count")
  if not _fits(per_tile, strings):
    raise corrupt(f"{per_tile} slice checksums for {strings} entropy-coded strings per tile")
  checks = tuple(flat[i:i + per_tile] for i in range(0, len(flat), per_tile))
  return dataclasses.replace(header, tile_checksums=checks), tiles * strings


def compress_alpha(alpha: bytes) -> bytes:
  return zlib.compress(alpha, 9)


def decompress_alpha(data: bytes, size: int) -> bytes:
  """Inflates an alpha plane of exactly ``size`` bytes; never inflates more than size + 1."""
  inflater = zlib.decompressobj()
  try:
    alpha = inflater.decompress(data, size + 1)
  except zlib.error:
    raise corrupt("bad alpha plane") from None
  if len(alpha) > size:
    raise corrupt(f"alpha plane inflates to more than the {size} bytes of the image")
  if len(alpha) < size or not inflater.eof:
    raise corrupt("alpha plane is cut short or has the wrong size")
  if inflater.unused_data:
    raise corrupt("alpha plane has trailing bytes")
  return alpha
