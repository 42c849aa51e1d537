"""Keras layers: Swin blocks, window attention, patch merge/split, Swin stages, and the AICT
scale-adaptation parts (ConvNeXt processor, bicubic resampler, resize parameter network) and
the SSF scale-space warp."""
from tfc_swin.layers.convnext import ConvNeXtBlock, ConvNeXtProcessor
from tfc_swin.layers.patches import PatchMerge, PatchSplit, SwinStage
from tfc_swin.layers.resample import BicubicResampler, scaled_size
from tfc_swin.layers.resize_net import ResBlock, ResizeParameterNetwork
from tfc_swin.layers.scale_space_flow import ScaleSpaceWarp
from tfc_swin.layers.swin import SwinTransformerBlock, WindowAttention

__all__ = ["BicubicResampler", "ConvNeXtBlock", "ConvNeXtProcessor", "PatchMerge",
           "PatchSplit", "ResBlock", "ResizeParameterNetwork", "ScaleSpaceWarp", "SwinStage",
           "SwinTransformerBlock", "WindowAttention", "scaled_size"]
