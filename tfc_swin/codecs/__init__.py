"""Image codecs (tf.Module) assembled from the parts a config names (see tfc_swin.configs)."""
from tfc_swin.codecs.build import build_codec, restore_codec
from tfc_swin.codecs.base import (PAD_MULTIPLE, CodingModule, index_checksum, pad_to_multiple,
                                  round_up, slice_checksums)
from tfc_swin.codecs.image import MODEL_INFO_FILE, ImageCodec
from tfc_swin.codecs.wrappers import WRAPPERS
from tfc_swin.codecs import scale_adaptive  # noqa: F401  (registers the AICT wrapper)
from tfc_swin.codecs.video import build_video_codec
from tfc_swin.priors import NotPreparedError

__all__ = ["MODEL_INFO_FILE", "NotPreparedError", "PAD_MULTIPLE", "WRAPPERS", "CodingModule",
           "ImageCodec",
           "build_codec", "build_video_codec", "index_checksum", "pad_to_multiple",
           "restore_codec", "round_up", "slice_checksums"]
