"""Entropy priors for the latent: mean-scale hyperprior and channel-wise autoregressive (ChARM)."""
from tfc_swin.priors.base import PRIORS, build_prior
from tfc_swin.priors.gaussian import (ChannelARPrior, GaussianConditional, MeanScaleHyperprior,
                                      NotPreparedError)
from tfc_swin.priors.slice_transforms import (ConvSliceTransform, build_slice_transform,
                                              register_slice_transform)
from tfc_swin.priors.swin_slice_transform import SwinSliceTransform, ict_head_dim

__all__ = ["PRIORS", "ChannelARPrior", "ConvSliceTransform", "GaussianConditional",
           "MeanScaleHyperprior", "NotPreparedError", "SwinSliceTransform",
           "build_prior", "build_slice_transform", "ict_head_dim", "register_slice_transform"]
