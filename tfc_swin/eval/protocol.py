"""The codec protocol of the evaluation tools.

A codec *family* is a list of ``(quality_label, codec)`` points ordered by increasing rate.
Classical anchors (:mod:`tfc_swin.eval.anchors`) and learned coders
(:class:`tfc_swin.coder.Coder`) both satisfy :class:`Codec`.
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
