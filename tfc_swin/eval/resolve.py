"""Codec spec resolution: an anchor name, zoo name, SavedModel path or config name -> the
``(family_name, points)`` of :mod:`tfc_swin.eval.protocol`."""
from __future__ import annotations

from tfc_swin import api
from tfc_swin.eval import anchors
from tfc_swin.eval.protocol import CodecPoints
from tfc_swin.eval.results import EXTERNAL_PREFIX


def resolve(spec: str) -> tuple[str, CodecPoints]:
  """Returns ``(family_name, [(quality_label, codec), ...])`` for a codec spec.

  Anchor names are handled here; ``external:PATH`` specs are precomputed results and cannot
  encode; anything else goes to :func:`tfc_swin.api.learned_codec_points`.
  """
  if spec in anchors.ANCHOR_NAMES:
    return spec, anchors.anchor_points(spec)
  if spec.startswith(EXTERNAL_PREFIX):
    raise ValueError(
        f"{spec!r} is an external anchor: precomputed results (e.g. VTM or BPG) that cannot "
        "encode images. Use it with experiments/bdrate.py or experiments/plot_rd.py, not with "
        "experiments/evaluate.py.")
  try:
    return api.learned_codec_points(spec)
  except ValueError as error:
    raise ValueError(f"{error}; classical anchors: {', '.join(anchors.ANCHOR_NAMES)}") from error
