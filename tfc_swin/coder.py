"""Image <-> file coding with one model: the bitstream format around a codec's signatures.

A :class:`Coder` wraps anything with the ``compress`` / ``decompress`` signatures of
:class:`tfc_swin.codecs.ImageCodec`: an in-memory codec or a SavedModel exported with
:func:`tfc_swin.zoo.export_codec`. The two give byte-identical files.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import numpy as np
import tensorflow as tf

from tfc_swin import bitstream
from tfc_swin.bitstream import BitstreamError, Header
from tfc_swin.codecs import ImageCodec

MODEL_INFO_FILE = "tfc_swin_model.json"


@dataclasses.dataclass(frozen=True)
class ModelId:
  """What a file records about the model that made it."""
  name: str  # e.g. "conv-hyperprior-cpu/1/q2", or "untrained/<config>/seed0"
  config: str  # config registry name
  fingerprint: str  # 16 hex digits over the weights


class Coder:
  """Compresses RGB(A)/grayscale images to tfc_swin files and back with one model."""

  def __init__(self, model: Any, model_id: ModelId, description: str = ""):
    self.model = model
    self.model_id = model_id
    self.description = description or model_id.name
    self.timings: dict[str, float] = {}

  @property
  def name(self) -> str:
    return self.model_id.name

  @classmethod
  def from_codec(cls, codec: ImageCodec, name: str, description: str = "") -> "Coder":
    """Wraps an in-memory codec (rebuilding its range-coding tables)."""
    codec.prepare_for_compression()
    return cls(codec, ModelId(name, codec.config.name, codec.fingerprint()), description)

  @classmethod
  def from_saved_model(cls, path: str) -> "Coder":
    """Loads a SavedModel written by :func:`tfc_swin.zoo.export_codec`."""
    info_path = os.path.join(path, MODEL_INFO_FILE)
    if not tf.saved_model.contains_saved_model(path) or not os.path.exists(info_path):
      raise ValueError(f"{path}: not a tfc_swin SavedModel (no saved_model.pb / "
                       f"{MODEL_INFO_FILE})")
    with open(info_path) as f:
      info = json.load(f)
    model = tf.saved_model.load(path)
    return cls(model, ModelId(info["name"], info["config"], info["fingerprint"]),
               info.get("description", ""))

  # -- arrays <-> bytes ---------------------------------------------------------------------
  def compress_array(self, rgb: np.ndarray, color_mode: str = "RGB",
                     alpha: np.ndarray | None = None) -> bytes:
    """uint8 (H, W, 3) [+ alpha (H, W)] -> file bytes."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
      raise ValueError(f"expected a non-empty uint8 (H, W, 3) image, got {rgb.dtype} "
                       f"{rgb.shape}")
    t0 = time.perf_counter()
    out = self.model.compress(tf.constant(rgb))
    t1 = time.perf_counter()
    strings = [bytes(s) for s in out["strings"].numpy()]
    header = Header(self.model_id.name, self.model_id.config, self.model_id.fingerprint,
                    rgb.shape[0], rgb.shape[1], color_mode,
                    int(out["index_checksum"].numpy()))
    packed_alpha = bitstream.compress_alpha(alpha.tobytes()) if alpha is not None else b""
    data = bitstream.pack(bitstream.Bitstream(header, strings, packed_alpha))
    self.timings = {"encode_model": t1 - t0, "pack": time.perf_counter() - t1}
    return data

  def check_compatible(self, header: Header) -> None:
    """Raises BitstreamError unless the file was made by this model."""
    mine = self.model_id
    if (header.config, header.fingerprint) != (mine.config, mine.fingerprint):
      raise BitstreamError(
          f"file was made by model {header.model} (config {header.config}, weights "
          f"{header.fingerprint}), not by {mine.name} (config {mine.config}, weights "
          f"{mine.fingerprint})")

  def decompress_array(self, data: bytes) -> tuple[np.ndarray, Header, np.ndarray | None]:
    """File bytes -> (uint8 (H, W, 3), header, alpha (H, W) or None)."""
    t0 = time.perf_counter()
    stream = bitstream.unpack(data)
    header = stream.header
    self.check_compatible(header)
    t1 = time.perf_counter()
    try:
      out = self.model.decompress(tf.constant(stream.strings, tf.string),
                                  tf.constant([header.height, header.width], tf.int32))
    except tf.errors.OpError as e:
      raise BitstreamError(f"file is corrupted (range decoding failed: "
                           f"{e.message.splitlines()[0]})") from None
    t2 = time.perf_counter()
    if int(out["index_checksum"].numpy()) != header.index_checksum:
      raise BitstreamError(
          "decoder derived different scale indexes than the encoder (float differences in "
          "h_s/ChARM between the two machines or builds); the image cannot be decoded here")
    alpha = None
    if header.has_alpha:
      raw = bitstream.decompress_alpha(stream.alpha, header.height * header.width)
      alpha = np.frombuffer(raw, np.uint8).reshape(header.height, header.width)
    self.timings = {"unpack": t1 - t0, "decode_model": t2 - t1}
    return out["image"].numpy(), header, alpha

  # -- the evaluation protocol (tfc_swin.eval.codecs.Codec) -----------------------------------
  def encode(self, image: np.ndarray) -> bytes:
    return self.compress_array(image)

  def decode(self, data: bytes) -> np.ndarray:
    return self.decompress_array(data)[0]
