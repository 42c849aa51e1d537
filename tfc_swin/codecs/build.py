"""Building codecs: fresh from a config, or restored from an exported SavedModel."""
from __future__ import annotations

import json
import os

import tensorflow as tf

from tfc_swin.codecs.image import MODEL_INFO_FILE, ImageCodec, restore_coding_options
from tfc_swin.codecs.wrappers import WRAPPERS
from tfc_swin.configs import CodecConfig, get_config


def restore_codec(saved_model: str) -> ImageCodec:
  """Rebuilds the in-memory codec of an exported SavedModel from the config stored in it
  (``codec_config`` of :data:`MODEL_INFO_FILE`) and loads its weights.

  Reads both layouts: weights under ``codec/`` (exports since the part-based configs) and at
  the root (zoo versions 0-3). The codec codes as the SavedModel does: with fused LayerNorm /
  GELU, bfloat16 matmuls or float32 entropy parameters only if the export says so
  (``CODING_OPTIONS``; older exports: without).
  """
  info_path = os.path.join(saved_model, MODEL_INFO_FILE)
  if not os.path.exists(info_path):
    raise ValueError(f"{saved_model}: not a tfc_swin SavedModel (no {MODEL_INFO_FILE})")
  with open(info_path) as f:
    info = json.load(f)
  codec = build_codec(CodecConfig.from_dict(info["codec_config"]))
  restore_coding_options(codec, info)
  path = os.path.join(saved_model, "variables", "variables")
  view = tf.train.Checkpoint(**codec.weight_view())
  nested = any(name.startswith("codec/") for name, _ in tf.train.list_variables(path))
  if nested:
    view = tf.train.Checkpoint(codec=view)
  view.read(path).assert_existing_objects_matched().expect_partial()
  if codec.fingerprint() != info["fingerprint"]:
    raise ValueError(f"{saved_model}: restored weights have fingerprint {codec.fingerprint()}, "
                     f"the model says {info['fingerprint']}")
  return codec


def build_codec(config: CodecConfig | str) -> ImageCodec:
  """Builds the codec for a config (or registered config name), with fresh weights."""
  if isinstance(config, str):
    config = get_config(config)
  if config.wrapper is not None:
    return WRAPPERS.get(config.wrapper.kind)(config)
  return ImageCodec(config)
