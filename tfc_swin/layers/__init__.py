"""Keras layers: Swin blocks, window attention, patch merge/split, Swin stages."""
from tfc_swin.layers.patches import PatchMerge, PatchSplit, SwinStage
from tfc_swin.layers.swin import SwinTransformerBlock, WindowAttention

__all__ = ["PatchMerge", "PatchSplit", "SwinStage", "SwinTransformerBlock", "WindowAttention"]
