"""The registry that builds a latent prior from its config (``Hyperprior``, ``ChARM``, ...)."""
from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from tfc_swin.registry import Registry

#: Builders ``(prior config, latent channels) -> prior module`` by config kind.
PRIORS: Registry[Callable[[Any, int], tf.Module]] = Registry("prior kind")


def build_prior(config: Any, latent_channels: int) -> tf.Module:
  return PRIORS.get(config.kind)(config, latent_channels)
