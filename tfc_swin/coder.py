"""Image <-> file coding with one model: the bitstream format around a codec's signatures.

A :class:`Coder` wraps anything with the ``compress`` / ``decompress`` signatures of
:class:`tfc_swin.codecs.ImageCodec`: an in-memory codec or a SavedModel exported with
:func:`tfc_swin.zoo.export_codec`. The two give byte-identical files. Exports of image and
video models are written by :func:`save_model` and describe themselves in
:data:`MODEL_INFO_FILE` (:func:`read_model_info`).

Decoding untrusted files (see docs/robustness.md) goes cheapest check first, so a bad file
costs no model work: parse + header checks (:func:`tfc_swin.bitstream.unpack`) -> same model
(config and weights) -> pixel limit -> string count and sizes against the model -> alpha plane
(inflated with a cap) -> model decode (TFC's range-decoder sanity check) -> scale-index
checksums. Each failure raises a :class:`~tfc_swin.bitstream.BitstreamError` subclass that names
the cause. A coder is safe to use from several threads at once.

Files carry one checksum of all scale indexes (format version 1) or, from models with several
latent slices that give ``slice_checksums`` (exports of this build), one per slice (version 2),
so that float drift in one ChARM slice is told from a changed string. Models without
``slice_checksums`` (older SavedModels) write and read version 1 as before. Images above
:data:`MAX_UNTILED_PIXELS` are coded in tiles (version 2), one at a time, so that memory is
bounded by the tile, not the image.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np
# The runtime modules only, not ``import tensorflow``: the command line codes with them after
# importing TensorFlow's runtime without its Python API (tfc_swin.fastload); in any other
# process this import loads TensorFlow as usual.
from tensorflow.python.framework import constant_op, dtypes
from tensorflow.python.framework import errors as tf_errors

from tfc_swin import bitstream
from tfc_swin.bitstream import (CHECKSUM_MODULUS, DEFAULT_MAX_PIXELS, BitstreamError,
                                CorruptFileError, Header, NumericsMismatchError, TooLargeError,
                                UnsupportedFileError, WrongModelError, check_pixel_limit,
                                corrupt)
# = tfc_swin.codecs.PAD_MULTIPLE (not imported from there: that loads the codecs, TFC and TFP).
from tfc_swin.bitstream import TILE_MULTIPLE as PAD_MULTIPLE

if TYPE_CHECKING:
  from tfc_swin.codecs import CodingModule, ImageCodec

MODEL_INFO_FILE = "tfc_swin_model.json"

#: Largest distance between the decoder's and the header's index checksums that is reported
#: as a numerics mismatch rather than corruption. The checksum is linear in the indexes
#: (sum of (index + 1) * weight, weights 1..65521, modulo 2^31 - 1), so a float difference
#: that moves k indexes by one moves it by at most k * 65521: this covers 64 such indexes
#: (thousands if the moves go both ways), while an unrelated checksum lands this close with
#: probability 2^23 / 2^31 = 0.4%.
NUMERICS_TOLERANCE = 1 << 22

#: Images of more pixels than this are coded in tiles by default (format version 2): the
#: paper-size SwinT-ChARM needs 1.8-2.4 KB per pixel coded at once (the zoo default 0.7-0.85),
#: so tiles keep compress and decompress of any image within 6.6 GB with it (2.5 GB with the
#: zoo default; docs/robustness.md, "Large images"). 2048 x 1536: CLIC-sized photos stay
#: untiled.
MAX_UNTILED_PIXELS = 2048 * 1536
#: The tile side of images above :data:`MAX_UNTILED_PIXELS` (a multiple of 64).
DEFAULT_TILE_SIDE = 1536

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
  if not _contains_saved_model(path) or not os.path.exists(info_path):
    raise ModelLoadError(f"{path}: not a tfc_swin SavedModel (no saved_model.pb / "
                         f"{MODEL_INFO_FILE})")
  with open(info_path) as f:
    return json.load(f)


def _contains_saved_model(path: str) -> bool:
  """``tf.saved_model.contains_saved_model`` for local folders (without TensorFlow's API)."""
  return any(os.path.isfile(os.path.join(path, name))
             for name in ("saved_model.pb", "saved_model.pbtxt"))


def _without_keras_traces():
  """Keras would also save a traced ``call`` of every layer (3-4x the graph size of the
  codec's coding functions, which are all an export needs). Keras 2.14 exposes the switch only
  through this module (see BUILD_NOTES.md)."""
  from keras.src.saving.legacy.saved_model import utils  # pylint: disable=import-outside-toplevel
  return utils.keras_option_scope(save_traces=False)


def save_model(codec: CodingModule, path: str, info: dict[str, Any]) -> None:
  """Writes a prepared codec's :meth:`~CodingModule.serving_module` with its coding functions
  as signatures, and ``info`` as :data:`MODEL_INFO_FILE`, to ``path`` (a new folder; atomic).
  The export of image models (:func:`tfc_swin.zoo.export_codec`) and of video models
  (:func:`tfc_swin.video.coder.export_video_codec`)."""
  if os.path.exists(path):
    raise FileExistsError(f"{path} exists")
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  parent = os.path.dirname(os.path.abspath(path))
  os.makedirs(parent, exist_ok=True)
  tmp = tempfile.mkdtemp(dir=parent, prefix=".export-")
  try:
    with _without_keras_traces():
      tf.saved_model.save(codec.serving_module(), tmp, signatures=codec.coding_functions())
    with open(os.path.join(tmp, MODEL_INFO_FILE), "w") as f:
      json.dump(info, f, indent=1)
    os.replace(tmp, path)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise


def checksum_distance(a: int, b: int) -> int:
  """Distance of two index checksums on the circle of residues modulo 2^31 - 1."""
  d = (a - b) % CHECKSUM_MODULUS
  return min(d, CHECKSUM_MODULUS - d)


def min_string_bytes(symbols: int) -> int:
  """Fewest bytes TFC's range coder can write for ``symbols`` symbols."""
  return max(0, math.floor(symbols * _MIN_BITS_PER_SYMBOL / 8) - _SIZE_SLACK_BYTES)


def default_tile_side(height: int, width: int) -> int:
  """The tile side compress uses unless told: 0 (one tile) up to :data:`MAX_UNTILED_PIXELS`,
  else :data:`DEFAULT_TILE_SIDE`."""
  return 0 if height * width <= MAX_UNTILED_PIXELS else DEFAULT_TILE_SIDE


def _model_checksums(out: dict[str, Any]) -> tuple[int, ...]:
  """A model's index checksums in a file's form: one per latent slice when it gives them and
  has several (format version 2), else one of all its scale indexes."""
  slices = out.get("slice_checksums")
  if slices is not None and slices.shape[0] > 1:
    return tuple(int(c) for c in slices.numpy())
  return (int(out["index_checksum"].numpy()),)


def _static_string_count(model: Any) -> int | None:
  """Strings per file of a model without running it: a codec's ``num_strings``, else the static
  length of its ``compress`` signature's ``strings`` output; None if unknown."""
  count = getattr(model, "num_strings", None)
  if isinstance(count, int):
    return count
  try:
    count = model.signatures["compress"].structured_outputs["strings"].shape[0]
  except (AttributeError, KeyError, IndexError, TypeError, ValueError):
    return None
  return count if isinstance(count, int) else None


def _padded(side: int) -> int:
  return -(-side // PAD_MULTIPLE) * PAD_MULTIPLE


def _op_error_summary(error: tf_errors.OpError) -> str:
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
  def from_saved_model(cls, path: str, functions_only: bool = False) -> "Coder":
    """Loads a SavedModel written by :func:`tfc_swin.zoo.export_codec`.

    ``functions_only``: load just its coding functions, each when first called, with
    :class:`tfc_swin.fastload.SavedModelFunctions` instead of ``tf.saved_model.load`` (a fraction
    of the time, the same files; ``coder.model`` then has ``compress`` / ``decompress`` but no
    ``signatures``). Falls back to ``tf.saved_model.load`` for SavedModels it cannot run.
    """
    info = read_model_info(path)
    if "kind" in info:  # Only video models say (tfc_swin.video.coder.VIDEO_MODEL_KIND).
      raise ModelLoadError(f"{path}: a {info['kind']} model ({info.get('config')}), not an "
                           "image model (use `tfc-swin video`)")
    model = None
    from tfc_swin import fastload  # pylint: disable=import-outside-toplevel
    if functions_only and fastload.enabled():
      fastload.load_tfc_ops()
      try:
        model = fastload.SavedModelFunctions(path)
      except fastload.UnsupportedSavedModelError:
        model = None
    if model is None:
      # pylint: disable=import-outside-toplevel
      import tensorflow as tf
      import tensorflow_compression  # noqa: F401  (registers the model's range-coding ops)
      model = tf.saved_model.load(path)
    return cls(model, ModelId(info["name"], info["config"], info["fingerprint"]),
               info.get("description", ""), _read_config(info.get("codec_config")))

  # -- arrays <-> bytes ---------------------------------------------------------------------
  def compress_array(self, rgb: np.ndarray, color_mode: str = "RGB",
                     alpha: np.ndarray | None = None,
                     max_pixels: int | None = DEFAULT_MAX_PIXELS,
                     tile_side: int | None = None) -> bytes:
    """uint8 (H, W, 3) [+ alpha (H, W)] -> file bytes (TooLargeError above ``max_pixels``).

    ``tile_side`` (a multiple of 64; 0: one tile) codes the image in tiles of that side, each
    on its own, so that memory is bounded by the tile; None: :func:`default_tile_side`.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
      raise ValueError(f"expected a non-empty uint8 (H, W, 3) image, got {rgb.dtype} "
                       f"{rgb.shape}")
    height, width = rgb.shape[:2]
    if height > bitstream.MAX_SIDE or width > bitstream.MAX_SIDE:
      raise TooLargeError(f"image is {width}x{height}: sides above {bitstream.MAX_SIDE} "
                          "pixels do not fit the file format")
    check_pixel_limit(height, width, max_pixels)
    side = default_tile_side(height, width) if tile_side is None else tile_side
    if side < 0 or side % PAD_MULTIPLE:
      raise ValueError(f"the tile side must be 0 or a multiple of {PAD_MULTIPLE}, got {side}")
    t0 = time.perf_counter()
    strings, checks = [], []
    for top, left, h, w in bitstream.tiles(height, width, side):
      out = self.model.compress(constant_op.constant(rgb[top:top + h, left:left + w]))
      strings += [bytes(s) for s in out["strings"].numpy()]
      checks.append(_model_checksums(out))
    t1 = time.perf_counter()
    header = Header(self.model_id.name, self.model_id.config, self.model_id.fingerprint,
                    height, width, color_mode)
    if side or len(checks[0]) > 1:
      header = dataclasses.replace(header, tile_side=side, tile_checksums=tuple(checks))
    else:  # Format version 1, which older builds read.
      header = dataclasses.replace(header, index_checksum=checks[0][0])
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
    tiles = _tile_streams(stream)
    for _, _, tile in tiles:
      self._check_strings(tile)
    alpha = None
    if header.has_alpha:
      raw = bitstream.decompress_alpha(stream.alpha, header.pixels)
      alpha = np.frombuffer(raw, np.uint8).reshape(header.height, header.width)
    t1 = time.perf_counter()
    image = self._decode_tiles(header, tiles)
    self._local.timings = {"unpack": t1 - t0, "decode_model": time.perf_counter() - t1}
    return image, header, alpha

  def _decode_tiles(self, header: Header, tiles: list[tuple[int, int, bitstream.Bitstream]]
                    ) -> np.ndarray:
    """The image, decoded one tile at a time; errors name the tile."""
    if len(tiles) == 1:
      return self._decode(tiles[0][2])
    image = np.empty((header.height, header.width, 3), np.uint8)
    for i, (top, left, tile) in enumerate(tiles):
      try:
        image[top:top + tile.header.height, left:left + tile.header.width] = self._decode(tile)
      except BitstreamError as e:
        raise type(e)(f"{e} (tile {i + 1} of {len(tiles)}, at x={left}, y={top})") from None
    return image

  # -- checks against the model ---------------------------------------------------------------
  def layout(self) -> _Layout:
    """Strings per file (from the codec, else by coding a 1x1 image once) and latent sizes."""
    with self._lock:
      if self._layout is None:
        count = _static_string_count(self.model)
        if count is None:
          out = self.model.compress(constant_op.constant(np.zeros([1, 1, 3], np.uint8)))
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
    checks = len(header.checksums())
    if checks not in (1, layout.num_strings - 1):
      raise corrupt(f"it has {checks} slice checksums for {layout.num_strings - 1} latent "
                    "slices")
    # z has one position per 64x64 padded pixels; y has at least as many positions.
    positions = (_padded(header.height) // PAD_MULTIPLE) * (_padded(header.width) // PAD_MULTIPLE)
    y_channels = layout.latent_channels // max(1, layout.num_strings - 1)
    for i, s in enumerate(stream.strings):
      need = min_string_bytes(positions * (layout.hyper_channels if i == 0 else y_channels))
      if len(s) < need:
        raise corrupt(f"entropy-coded string {i} has {len(s)} bytes, too few for a "
                      f"{header.width}x{header.height} image (at least {need})")

  def _run(self, strings: list[bytes], height: int, width: int) -> dict[str, Any]:
    return self.model.decompress(constant_op.constant(strings, dtypes.string),
                                 constant_op.constant([height, width], dtypes.int32))

  def _checksums(self, out: dict[str, Any], header: Header) -> tuple[int, ...]:
    """The decoder's index checksums in the form of the header's (one in all, or one per
    latent slice)."""
    expected = len(header.checksums())
    if expected == 1:
      return (int(out["index_checksum"].numpy()),)
    if "slice_checksums" not in out:
      raise UnsupportedFileError(
          f"the file has per-slice index checksums (format version 2), which model "
          f"{self.name} was exported without: decode it with a newer export of the model")
    checks = tuple(int(c) for c in out["slice_checksums"].numpy())
    if len(checks) != expected:
      raise corrupt(f"it has {expected} slice checksums, model {self.name} codes "
                    f"{len(checks)} latent slices")
    return checks

  def _decode(self, stream: bitstream.Bitstream) -> np.ndarray:
    """Model decode + scale-index check; failures are diagnosed into one named cause."""
    header = stream.header
    try:
      out = self._run(stream.strings, header.height, header.width)
      checks = self._checksums(out, header)
    except (tf_errors.ResourceExhaustedError, MemoryError):
      raise TooLargeError(f"not enough memory to decode a {header.width}x{header.height} "
                          f"image ({header.pixels:,} pixels)") from None
    except tf_errors.OpError as e:
      if "Sanity check failed" not in e.message:
        raise corrupt(f"range decoding failed: {_op_error_summary(e)}") from None
      raise self._diagnose_sanity_failure(stream) from None
    if checks != header.checksums():
      raise self._diagnose_mismatch(stream, checks)
    return out["image"].numpy()

  def _probe(self, strings: list[bytes], height: int, width: int, header: Header
             ) -> tuple[int, ...] | None:
    """The decoder's index checksums for these inputs, or None if decoding fails."""
    try:
      return self._checksums(self._run(strings, height, width), header)
    except tf_errors.OpError:
      return None

  def _checked_slices(self, header: Header) -> int:
    """How many latent strings (the last ones) the header's checksums cover one by one: one
    each if there are several, the only one of a plain hyperprior codec, else 0 (unknown)."""
    checks = len(header.checksums())
    if checks > 1:
      return checks
    return 1 if self.layout().plain and self.layout().num_strings == 2 else 0

  def _diagnose_sanity_failure(self, stream: bitstream.Bitstream) -> BitstreamError:
    """A string failed TFC's range-decoder sanity check: which one, and why."""
    header = stream.header
    slices = self._checked_slices(header)
    if not slices:
      return self._diagnose_unchecked_failure(stream)
    found = self._first_failing_slice(stream, slices)
    if found is None:
      return corrupt("the hyper-latent string z does not decode (range decoder sanity check): "
                     "the string or the image size was altered")
    k, checks = found
    if checks[:k + 1] == header.checksums()[:k + 1]:  # The encoder's indexes: y_k itself is bad.
      name = f"y{k}" if slices > 1 else "y"
      return corrupt(f"the latent string {name} does not decode with the encoder's scale "
                     "indexes (range decoder sanity check)")
    return self._diagnose_mismatch(stream, checks[:k + 1])

  def _first_failing_slice(self, stream: bitstream.Bitstream, slices: int
                           ) -> tuple[int, tuple[int, ...]] | None:
    """(k, checksums): the first latent string k that fails the sanity check, found by
    decoding with the latent strings from some point on emptied (an empty string always
    passes), and the decoder's checksums with strings 0..k-1 kept (exact for slices 0..k).
    None if decoding fails with every latent string emptied (z is bad)."""
    header, strings = stream.header, stream.strings
    head = len(strings) - slices

    def keep(n: int) -> tuple[int, ...] | None:
      kept = strings[:head + n] + [b""] * (slices - n)
      return self._probe(kept, header.height, header.width, header)

    checks = keep(0)
    if checks is None:
      return None
    passing, failing = 0, slices  # keep(slices) is the decode that failed.
    while failing - passing > 1:
      middle = (passing + failing) // 2
      result = keep(middle)
      if result is None:
        failing = middle
      else:
        passing, checks = middle, result
    return passing, checks

  def _diagnose_unchecked_failure(self, stream: bitstream.Bitstream) -> BitstreamError:
    """A sanity-check failure of a version-1 file whose checksum covers several latent
    slices (ChARM) or of a wrapped codec: z alone, then the image size."""
    header, strings = stream.header, stream.strings
    plain = self.layout().plain
    if plain and self._probe(strings[:1] + [b""] * (len(strings) - 1), header.height,
                             header.width, header) is None:
      return corrupt("the hyper-latent string z does not decode (range decoder sanity check): "
                     "the string or the image size was altered")
    size = self._coded_size(stream)
    if size:
      return self._size_mismatch(header, size)
    what = "a latent string y" if plain else "an entropy-coded string"
    return corrupt(f"{what} does not decode (range decoder sanity check)")

  def _diagnose_mismatch(self, stream: bitstream.Bitstream, checks: tuple[int, ...]
                         ) -> BitstreamError:
    """The decoder's scale indexes differ from the encoder's (``checks`` may cover only the
    first slices): numerics or a crafted file."""
    header = stream.header
    size = self._coded_size(stream)  # Exact: the header's checksums, at another size.
    if size:
      return self._size_mismatch(header, size)
    expected = header.checksums()
    first = next(i for i, (a, b) in enumerate(zip(checks, expected)) if a != b)
    where = f" in latent slice {first}" if len(expected) > 1 else ""
    if checksum_distance(checks[first], expected[first]) <= NUMERICS_TOLERANCE:
      return NumericsMismatchError(
          f"the decoder derived slightly different scale indexes than the encoder{where} "
          "(float differences in h_s/ChARM between the two machines or builds; the file looks "
          "intact): decode it with the build and machine type that encoded it")
    return corrupt(f"its coded data does not match its header: the scale indexes{where} are "
                   "nowhere near the encoder's checksum (strings or header from another file?)")

  def _coded_size(self, stream: bitstream.Bitstream) -> tuple[int, int] | None:
    """A padded size one 64-pixel block smaller at which the strings decode to the
    header's checksum (the header's size was enlarged), else None."""
    header = stream.header
    if header.pixels > SIZE_PROBE_MAX_PIXELS:
      return None
    hp, wp = _padded(header.height), _padded(header.width)
    for h, w in ((hp - PAD_MULTIPLE, wp), (hp, wp - PAD_MULTIPLE),
                 (hp - PAD_MULTIPLE, wp - PAD_MULTIPLE)):
      if h > 0 and w > 0 and self._probe(stream.strings, h, w, header) == header.checksums():
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


def _tile_streams(stream: bitstream.Bitstream) -> list[tuple[int, int, bitstream.Bitstream]]:
  """(top, left, the tile as a file of its own) for each tile of a file (one tile: the file)."""
  header = stream.header
  if not header.tile_side:
    return [(0, 0, stream)]
  per_tile = len(stream.strings) // header.tile_count
  return [(top, left, bitstream.Bitstream(
      dataclasses.replace(header, height=h, width=w, tile_side=0,
                          tile_checksums=(header.checksums(i),)),
      stream.strings[i * per_tile:(i + 1) * per_tile]))
          for i, (top, left, h, w) in enumerate(header.tiles())]


def _read_config(d: dict | None) -> Any:
  """The CodecConfig a SavedModel stores (None if absent or unreadable: fewer checks)."""
  if not d:
    return None
  from tfc_swin.configs import CodecConfig  # pylint: disable=import-outside-toplevel
  try:
    return CodecConfig.from_dict(d)
  except (KeyError, TypeError, ValueError):
    return None
