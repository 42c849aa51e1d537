"""The codec protocol used by the evaluation tools, and codec spec resolution.

A codec *family* is a list of ``(quality_label, codec)`` points ordered by
increasing rate. ``resolve`` turns a spec (anchor name, zoo name, SavedModel
path or config name) into ``(family_name, points)``.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np


class Codec(Protocol):
  """One operating point of an image codec (a single quality setting)."""

  name: str
  description: str

  def encode(self, image: np.ndarray) -> bytes:
    """Encodes an HxWx3 uint8 RGB image to a complete bitstream."""

  def decode(self, data: bytes) -> np.ndarray:
    """Decodes a bitstream to an HxWx3 uint8 RGB image."""


CodecPoints = list[tuple[str, Codec]]


def resolve(spec: str) -> tuple[str, CodecPoints]:
  """Returns ``(family_name, [(quality_label, codec), ...])`` for a codec spec.

  Anchor names are handled here; ``external:PATH`` specs are precomputed
  results and cannot encode; anything else is passed to
  ``tfc_swin.api.learned_codec_points``.
  """
  from tfc_swin.eval import anchors
  from tfc_swin.eval.results import EXTERNAL_PREFIX

  if spec in anchors.ANCHOR_NAMES:
    return spec, anchors.anchor_points(spec)
  if spec.startswith(EXTERNAL_PREFIX):
    raise ValueError(
        f"{spec!r} is an external anchor: precomputed results (e.g. VTM or BPG) "
        "that cannot encode images. Use it with experiments/bdrate.py or "
        "experiments/plot_rd.py, not with experiments/evaluate.py.")
  try:
    from tfc_swin import api
  except ImportError as error:
    raise ValueError(
        f"unknown codec spec {spec!r}: learned codecs need tfc_swin.api, which "
        f"could not be imported ({error}); valid anchor names: "
        f"{', '.join(anchors.ANCHOR_NAMES)}") from error
  try:
    return api.learned_codec_points(spec)
  except ValueError as error:
    raise ValueError(f"{error}; classical anchors: {', '.join(anchors.ANCHOR_NAMES)}") from error
