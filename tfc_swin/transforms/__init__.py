"""Analysis / synthesis transforms (g_a, g_s, h_a, h_s) built from tfc_swin layers."""
from tfc_swin.transforms.base import TRANSFORMS, Transforms, build_transforms
from tfc_swin.transforms.conv import (conv_analysis, conv_hyper_analysis, conv_hyper_synthesis,
                                      conv_synthesis, conv_transforms)
from tfc_swin.transforms.swin import swin_analysis, swin_synthesis, swin_transforms

__all__ = ["TRANSFORMS", "Transforms", "build_transforms", "conv_analysis",
           "conv_hyper_analysis", "conv_hyper_synthesis", "conv_synthesis", "conv_transforms",
           "swin_analysis", "swin_synthesis", "swin_transforms"]
