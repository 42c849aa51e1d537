"""Entropy priors for the latent: mean-scale hyperprior and channel-wise autoregressive (ChARM)."""
from tfc_swin.priors.gaussian import ChannelARPrior, GaussianConditional, MeanScaleHyperprior
from tfc_swin.priors.slice_transforms import (ConvSliceTransform, build_slice_transform,
                                              register_slice_transform)

__all__ = ["ChannelARPrior", "ConvSliceTransform", "GaussianConditional",
           "MeanScaleHyperprior", "build_slice_transform", "register_slice_transform"]
