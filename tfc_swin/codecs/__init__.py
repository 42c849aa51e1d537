"""Image codecs (tf.Module): ConvHyperprior, ConvChARM, SwinTHyperprior, SwinTChARM."""
from tfc_swin.codecs.base import PAD_MULTIPLE, ImageCodec, index_checksum, pad_to_multiple
from tfc_swin.codecs.models import (CODEC_CLASSES, ConvChARM, ConvHyperprior, SwinTChARM,
                                    SwinTHyperprior, build_codec)

__all__ = ["CODEC_CLASSES", "ConvChARM", "ConvHyperprior", "ImageCodec", "PAD_MULTIPLE",
           "SwinTChARM", "SwinTHyperprior", "build_codec", "index_checksum", "pad_to_multiple"]
