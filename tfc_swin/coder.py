"""Image <-> file coding with one model: the bitstream format around a codec's signatures.

A :class:`Coder` wraps anything with the ``compress`` / ``decompress`` signatures of
:class:`tfc_swin.codecs.ImageCodec`: an in-memory codec or a SavedModel exported with
:func:`tfc_swin.zoo.export_codec`. The two give byte-identical files.

Decoding untrusted files (see docs/robustness.md) goes cheapest check first, so a bad file
costs no model work: parse + header checks (:func:`tfc_swin.bitstream.unpack`) -> same model
(config and weights) -> pixel limit -> string count and sizes against the model -> alpha plane
(inflated with a cap) -> model decode (TFC's range-decoder sanity check) -> scale-index
checksum. Each failure raises a :class:`~tfc_swin.bitstream.BitstreamError` subclass that names
the cause. A coder is safe to use from several threads at once.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
import time
from typing import Any

import numpy as np
import tensorflow as tf

from tfc_swin import bitstream
from tfc_swin.bitstream import (CHECKSUM_MODULUS, DEFAULT_MAX_PIXELS, BitstreamError,
                                CorruptFileError, Header, NumericsMismatchError, TooLargeError,
                                WrongModelError, check_pixel_limit, corrupt)
from tfc_swin.codecs import PAD_MULTIPLE, ImageCodec

MODEL_INFO_FILE = "tfc_swin_model.json"

#: Largest distance between the decoder's and the header's index checksums that is reported
#: as a numerics mismatch rather than corruption. The checksum is linear in the indexes
#: (sum of (index + 1) * weight, weights 1..65521, modulo 2^31 - 1), so a float difference
#: that moves k indexes by one moves it by at most k * 65521: this covers 64 such indexes
#: (thousands if the moves go both ways), while an unrelated checksum lands this close with
#: probability 2^23 / 2^31 = 0.4%.
NUMERICS_TOLERANCE = 1 << 22

#: Largest image (pixels) for which a checksum mismatch is also decoded at sizes one 64-pixel
#: block smaller (up to 3 more decodes) to tell an enlarged header size from other causes.
SIZE_PROBE_MAX_PIXELS = 1 << 22

# A symbol costs the range coder at least -log2(65521 / 65536) bits: TFC's tables have 12-bit
# precision and always keep an overflow bin (so p <= 4095 / 4096), and the coder's integer
# interval shrinks by at most p + 2^-16.
_MIN_BITS_PER_SYMBOL = math.log2(65536 / 65521)
_SIZE_SLACK_BYTES = 4


class ModelLoadError(ValueError):
  """A folder that is not a tfc_swin SavedModel."""


@dataclasses.dataclass(frozen=True)
class ModelId:
  """What a file records about the model that made it."""
  name: str  # e.g. "conv-hyperprior-cpu/1/q2", or "untrained/<config>/seed0"
  config: str  # config registry name
  fingerprint: str  # 16 hex digits over the weights

  def check_made(self, header: Any, kind: str = "file") -> None:
    """Raises WrongModelError unless ``header`` (an image or video header: ``model``,
    ``config``, ``fingerprint``) says this model made the ``kind``."""
    if (header.config, header.fingerprint) != (self.config, self.fingerprint):
      raise WrongModelError(
          f"{kind} was made by model {header.model} (config {header.config}, weights "
          f"{header.fingerprint}), not by {self.name} (config {self.config}, weights "
          f"{self.fingerprint})")


@dataclasses.dataclass(frozen=True)
class _Layout:
  """What the decoder reads: strings per file; for a plain codec (strings [z, y...], no
  wrapper such as AICT's scale adaptation) also the latent sizes."""
  num_strings: int
  plain: bool = False
  latent_channels: int = 0
  hyper_channels: int = 0


def read_model_info(path: str) -> dict[str, Any]:
  """What an exported SavedModel says about itself (:data:`MODEL_INFO_FILE`); ModelLoadError
  if ``path`` is not a tfc_swin SavedModel."""
  info_path = os.path.join(path, MODEL_INFO_FILE)
  if not tf.saved_model.contains_saved_model(path) or not os.path.exists(info_path):
    raise ModelLoadError(f"{path}: not a tfc_swin SavedModel (no saved_model.pb / "
                         f"{MODEL_INFO_FILE})")
  with open(info_path) as f:
    return json.load(f)


def checksum_distance(a: int, b: int) -> int:
  """Distance of two index checksums on the circle of residues modulo 2^31 - 1."""
  d = (a - b) % CHECKSUM_MODULUS
  return min(d, CHECKSUM_MODULUS - d)


def min_string_bytes(symbols: int) -> int:
  """Fewest bytes TFC's range coder can write for ``symbols`` symbols."""
  return max(0, math.floor(symbols * _MIN_BITS_PER_SYMBOL / 8) - _SIZE_SLACK_BYTES)


def _padded(side: int) -> int:
  return -(-side // PAD_MULTIPLE) * PAD_MULTIPLE


def _op_error_summary(error: tf.errors.OpError) -> str:
  for line in error.message.splitlines():
    line = line.strip()
    if line.startswith(("assertion failed:", "index", "indices", "Invalid", "Input")):
      return " ".join(line.split())[:160]
  return type(error).__name__


class Coder:
  """Compresses RGB(A)/grayscale images to tfc_swin files and back with one model."""

  def __init__(self, model: Any, model_id: ModelId, description: str = "",
               config: Any = None):
    self.model = model
    self.model_id = model_id
    self.description = description or model_id.name
    self.config = config if config is not None else getattr(model, "config", None)
    self._layout: _Layout | None = None
    self._lock = threading.Lock()
    self._local = threading.local()

  @property
  def name(self) -> str:
    return self.model_id.name

  @property
  def timings(self) -> dict[str, float]:
    """Per-stage seconds of this thread's last compress / decompress."""
    return getattr(self._local, "timings", {})

  @classmethod
  def from_codec(cls, codec: ImageCodec, name: str, description: str = "") -> "Coder":
    """Wraps an in-memory codec (rebuilding its range-coding tables)."""
    codec.prepare_for_compression()
    return cls(codec, ModelId(name, codec.config.name, codec.fingerprint()), description)

  @classmethod
  def from_saved_model(cls, path: str) -> "Coder":
    """Loads a SavedModel written by :func:`tfc_swin.zoo.export_codec`."""
    info = read_model_info(path)
    if "kind" in info:  # Only video models say (tfc_swin.video.coder.VIDEO_MODEL_KIND).
      raise ModelLoadError(f"{path}: a {info['kind']} model ({info.get('config')}), not an "
                           "image model (use `tfc-swin video`)")
    model = tf.saved_model.load(path)
    return cls(model, ModelId(info["name"], info["config"], info["fingerprint"]),
               info.get("description", ""), _read_config(info.get("codec_config")))

  # -- arrays <-> bytes ---------------------------------------------------------------------
  def compress_array(self, rgb: np.ndarray, color_mode: str = "RGB",
                     alpha: np.ndarray | None = None,
                     max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bytes:
    """uint8 (H, W, 3) [+ alpha (H, W)] -> file bytes (TooLargeError above ``max_pixels``)."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
      raise ValueError(f"expected a non-empty uint8 (H, W, 3) image, got {rgb.dtype} "
                       f"{rgb.shape}")
    height, width = rgb.shape[:2]
    if height > bitstream.MAX_SIDE or width > bitstream.MAX_SIDE:
      raise TooLargeError(f"image is {width}x{height}: sides above {bitstream.MAX_SIDE} "
                          "pixels do not fit the file format")
    check_pixel_limit(height, width, max_pixels)
    t0 = time.perf_counter()
    out = self.model.compress(tf.constant(rgb))
    t1 = time.perf_counter()
    strings = [bytes(s) for s in out["strings"].numpy()]
    header = Header(self.model_id.name, self.model_id.config, self.model_id.fingerprint,
                    height, width, color_mode, int(out["index_checksum"].numpy()))
    packed_alpha = bitstream.compress_alpha(alpha.tobytes()) if alpha is not None else b""
    data = bitstream.pack(bitstream.Bitstream(header, strings, packed_alpha))
    self._local.timings = {"encode_model": t1 - t0, "pack": time.perf_counter() - t1}
    return data

  def check_compatible(self, header: Header) -> None:
    """Raises WrongModelError unless the file was made by this model."""
    self.model_id.check_made(header, "file")

  def decompress_array(self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS
                       ) -> tuple[np.ndarray, Header, np.ndarray | None]:
    """File bytes -> (uint8 (H, W, 3), header, alpha (H, W) or None).

    Raises a BitstreamError subclass naming the cause for any file it cannot decode, and
    :class:`~tfc_swin.bitstream.TooLargeError` above ``max_pixels`` (None: no limit) before
    any model work.
    """
    t0 = time.perf_counter()
    stream = bitstream.unpack(data)
    header = stream.header
    self.check_compatible(header)
    check_pixel_limit(header.height, header.width, max_pixels)
    self._check_strings(stream)
    alpha = None
    if header.has_alpha:
      raw = bitstream.decompress_alpha(stream.alpha, header.pixels)
      alpha = np.frombuffer(raw, np.uint8).reshape(header.height, header.width)
    t1 = time.perf_counter()
    image = self._decode(stream)
    self._local.timings = {"unpack": t1 - t0, "decode_model": time.perf_counter() - t1}
    return image, header, alpha

  # -- checks against the model ---------------------------------------------------------------
  def layout(self) -> _Layout:
    """Strings per file (from the codec, else by coding a 1x1 image once) and latent sizes."""
    with self._lock:
      if self._layout is None:
        count = getattr(self.model, "num_strings", None)
        if not isinstance(count, int):
          out = self.model.compress(tf.zeros([1, 1, 3], tf.uint8))
          count = int(out["strings"].shape[0])
        channels = [getattr(self.config, k, None) for k in ("latent_channels", "hyper_channels")]
        plain = (self.config is not None and getattr(self.config, "wrapper", None) is None
                 and all(isinstance(c, int) and c > 0 for c in channels))
        self._layout = _Layout(count, True, *channels) if plain else _Layout(count)
      return self._layout

  def _check_strings(self, stream: bitstream.Bitstream) -> None:
    """String count of the model; each string long enough for the symbols it must code."""
    layout, header = self.layout(), stream.header
    if len(stream.strings) != layout.num_strings:
      raise corrupt(f"it has {len(stream.strings)} entropy-coded strings, model "
                    f"{self.name} reads {layout.num_strings}")
    if not layout.plain:
      return
    # z has one position per 64x64 padded pixels; y has at least as many positions.
    positions = (_padded(header.height) // PAD_MULTIPLE) * (_padded(header.width) // PAD_MULTIPLE)
    y_channels = layout.latent_channels // max(1, layout.num_strings - 1)
    for i, s in enumerate(stream.strings):
      need = min_string_bytes(positions * (layout.hyper_channels if i == 0 else y_channels))
      if len(s) < need:
        raise corrupt(f"entropy-coded string {i} has {len(s)} bytes, too few for a "
                      f"{header.width}x{header.height} image (at least {need})")

  def _run(self, strings: list[bytes], height: int, width: int) -> dict[str, tf.Tensor]:
    return self.model.decompress(tf.constant(strings, tf.string),
                                 tf.constant([height, width], tf.int32))

  def _decode(self, stream: bitstream.Bitstream) -> np.ndarray:
    """Model decode + scale-index check; failures are diagnosed into one named cause."""
    header = stream.header
    try:
      out = self._run(stream.strings, header.height, header.width)
      checksum = int(out["index_checksum"].numpy())
    except (tf.errors.ResourceExhaustedError, MemoryError):
      raise TooLargeError(f"not enough memory to decode a {header.width}x{header.height} "
                          f"image ({header.pixels:,} pixels)") from None
    except tf.errors.OpError as e:
      if "Sanity check failed" not in e.message:
        raise corrupt(f"range decoding failed: {_op_error_summary(e)}") from None
      raise self._diagnose_sanity_failure(stream) from None
    if checksum != header.index_checksum:
      raise self._diagnose_mismatch(stream, checksum)
    return out["image"].numpy()

  def _probe(self, strings: list[bytes], height: int, width: int) -> int | None:
    """The decoder's index checksum for these inputs, or None if decoding fails."""
    try:
      return int(self._run(strings, height, width)["index_checksum"].numpy())
    except tf.errors.OpError:
      return None

  def _diagnose_sanity_failure(self, stream: bitstream.Bitstream) -> BitstreamError:
    """A string failed TFC's range-decoder sanity check: which one, and why."""
    header, strings = stream.header, stream.strings
    if not self.layout().plain:
      size = self._coded_size(stream)
      if size:
        return self._size_mismatch(header, size)
      return corrupt("an entropy-coded string does not decode (range decoder sanity check)")
    # Empty y strings always pass the sanity check, so this decodes z alone.
    checksum = self._probe(strings[:1] + [b""] * (len(strings) - 1), header.height,
                           header.width)
    if checksum is None:
      return corrupt("the hyper-latent string z does not decode (range decoder sanity check): "
                     "the string or the image size was altered")
    if len(strings) > 2:  # ChARM: later slices' indexes depend on the y data itself.
      size = self._coded_size(stream)
      if size:
        return self._size_mismatch(header, size)
      return corrupt("a latent string y does not decode (range decoder sanity check)")
    if checksum == header.index_checksum:  # Same indexes as the encoder: y itself is bad.
      return corrupt("the latent string y does not decode with the encoder's scale indexes "
                     "(range decoder sanity check)")
    return self._diagnose_mismatch(stream, checksum)

  def _diagnose_mismatch(self, stream: bitstream.Bitstream, checksum: int) -> BitstreamError:
    """The decoder's scale indexes differ from the encoder's: numerics or a crafted file."""
    header = stream.header
    size = self._coded_size(stream)  # Exact: the header's checksum, at another size.
    if size:
      return self._size_mismatch(header, size)
    if checksum_distance(checksum, header.index_checksum) <= NUMERICS_TOLERANCE:
      return NumericsMismatchError(
          "the decoder derived slightly different scale indexes than the encoder (float "
          "differences in h_s/ChARM between the two machines or builds; the file looks "
          "intact): decode it with the build and machine type that encoded it")
    return corrupt("its coded data does not match its header: the scale indexes are nowhere "
                   "near the encoder's checksum (strings or header from another file?)")

  def _coded_size(self, stream: bitstream.Bitstream) -> tuple[int, int] | None:
    """A padded size one 64-pixel block smaller at which the strings decode to the
    header's checksum (the header's size was enlarged), else None."""
    header = stream.header
    if header.pixels > SIZE_PROBE_MAX_PIXELS:
      return None
    hp, wp = _padded(header.height), _padded(header.width)
    for h, w in ((hp - PAD_MULTIPLE, wp), (hp, wp - PAD_MULTIPLE),
                 (hp - PAD_MULTIPLE, wp - PAD_MULTIPLE)):
      if h > 0 and w > 0 and self._probe(stream.strings, h, w) == header.index_checksum:
        return h, w
    return None

  @staticmethod
  def _size_mismatch(header: Header, size: tuple[int, int]) -> CorruptFileError:
    return corrupt(f"its image size {header.width}x{header.height} does not match its coded "
                   f"data, which is for an image of at most {size[1]}x{size[0]} pixels")

  # -- the evaluation protocol (tfc_swin.eval.codecs.Codec) -----------------------------------
  def encode(self, image: np.ndarray) -> bytes:
    return self.compress_array(image)

  def decode(self, data: bytes) -> np.ndarray:
    return self.decompress_array(data)[0]


def _read_config(d: dict | None) -> Any:
  """The CodecConfig a SavedModel stores (None if absent or unreadable: fewer checks)."""
  if not d:
    return None
  from tfc_swin.configs import CodecConfig  # pylint: disable=import-outside-toplevel
  try:
    return CodecConfig.from_dict(d)
  except (KeyError, TypeError, ValueError):
    return None
