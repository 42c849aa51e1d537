"""Analysis / synthesis transforms (g_a, g_s, h_a, h_s) built from tfc_swin layers."""
from tfc_swin.transforms.conv import (conv_analysis, conv_hyper_analysis, conv_hyper_synthesis,
                                      conv_synthesis)
from tfc_swin.transforms.swin import swin_analysis, swin_synthesis

__all__ = ["conv_analysis", "conv_hyper_analysis", "conv_hyper_synthesis", "conv_synthesis",
           "swin_analysis", "swin_synthesis"]
