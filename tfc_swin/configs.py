"""The config registry: every codec size the package knows, by name.

Paper sizes come from Zhu et al. 2022 App. A (medium = the models of Tables 1 and 3; small /
large = the scaling study of App. A.3; ``-a5`` = ablation A5 of App. F). ``-cpu`` configs are
small enough to train on a 2-core CPU; ``-tiny`` configs exist for tests and demos.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

FAMILIES = ("ConvHyperprior", "ConvChARM", "SwinTHyperprior", "SwinTChARM")


@dataclasses.dataclass(frozen=True)
class CodecConfig:
  """Sizes of one codec.

  analysis: (C1, C2, C3, C4) stage widths of g_a; C4 is the number of latent channels.
  hyper: conv (C5, C6, C7) / SwinT (C5, C6) widths of h_a; the last is the hyper-latent size.
  depths: SwinT only, Swin blocks per stage (d1..d4 for g_a, d5, d6 for h_a); g_s and h_s
    mirror them.
  windows: SwinT only, window sizes (w_g for g_a/g_s, w_h for h_a/h_s).
  paper_params_m: trainable parameters reported by the paper, in millions (None if none).
  """
  name: str
  family: str
  analysis: tuple[int, ...]
  hyper: tuple[int, ...]
  depths: tuple[int, ...] = ()
  windows: tuple[int, int] = (8, 4)
  head_dim: int = 32
  num_slices: int = 10
  slice_transform: str = "conv"
  relative_position_bias: bool = True
  shifted_windows: bool = True
  fixed_windows: bool = False
  hyper_plain_embedding: bool = False
  num_scales: int = 64
  paper_params_m: Optional[float] = None
  description: str = ""

  def __post_init__(self):
    if self.family not in FAMILIES:
      raise ValueError(f"unknown family {self.family!r}; known: {FAMILIES}")

  @property
  def latent_channels(self) -> int:
    return self.analysis[-1]

  @property
  def hyper_channels(self) -> int:
    return self.hyper[-1]

  @property
  def uses_charm(self) -> bool:
    return self.family.endswith("ChARM")

  @property
  def is_swin(self) -> bool:
    return self.family.startswith("SwinT")

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> "CodecConfig":
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v
                  for k, v in d.items() if k in fields})


_CONFIGS: dict[str, CodecConfig] = {}


def register(config: CodecConfig) -> CodecConfig:
  if config.name in _CONFIGS:
    raise ValueError(f"config {config.name!r} already registered")
  _CONFIGS[config.name] = config
  return config


def get_config(name: str) -> CodecConfig:
  try:
    return _CONFIGS[name]
  except KeyError:
    raise KeyError(f"unknown config {name!r}; known: {', '.join(sorted(_CONFIGS))}") from None


def config_names() -> list[str]:
  return sorted(_CONFIGS)


_SWIN_DEPTHS = (2, 2, 6, 2, 5, 1)
_CONV_MEDIUM = dict(analysis=(320, 320, 320, 320), hyper=(192, 192, 192))
_SWIN_MEDIUM = dict(analysis=(128, 192, 256, 320), hyper=(192, 192), depths=_SWIN_DEPTHS)

# Paper medium models (App. A.1, A.2; parameter counts from Table 3).
register(CodecConfig("conv-hyperprior", "ConvHyperprior", **_CONV_MEDIUM, paper_params_m=21.4,
                     description="Conv-Hyperprior, paper medium size"))
register(CodecConfig("conv-charm", "ConvChARM", **_CONV_MEDIUM, paper_params_m=29.3,
                     description="Conv-ChARM, paper medium size, 10 slices"))
register(CodecConfig("swint-hyperprior", "SwinTHyperprior", **_SWIN_MEDIUM,
                     paper_params_m=24.7, description="SwinT-Hyperprior, paper medium size"))
register(CodecConfig("swint-charm", "SwinTChARM", **_SWIN_MEDIUM, paper_params_m=32.6,
                     description="SwinT-ChARM, paper medium size, 10 slices"))
register(CodecConfig("swint-hyperprior-a5", "SwinTHyperprior", analysis=(128, 192, 256, 320),
                     hyper=(192, 192), depths=(2, 2, 5, 1, 5, 1), paper_params_m=20.6,
                     description="SwinT-Hyperprior ablation A5 (depths 2,2,5,1)"))

# Scaling study (App. A.3).
register(CodecConfig("swint-hyperprior-small", "SwinTHyperprior", analysis=(96, 128, 160, 192),
                     hyper=(96, 128), depths=_SWIN_DEPTHS,
                     description="SwinT-Hyperprior, App. A.3 small"))
register(CodecConfig("swint-hyperprior-large", "SwinTHyperprior", analysis=(160, 256, 352, 448),
                     hyper=(192, 256), depths=_SWIN_DEPTHS,
                     description="SwinT-Hyperprior, App. A.3 large"))
register(CodecConfig("conv-hyperprior-small", "ConvHyperprior", analysis=(192,) * 4,
                     hyper=(128,) * 3, description="Conv-Hyperprior, App. A.3 small"))
register(CodecConfig("conv-hyperprior-large", "ConvHyperprior", analysis=(448,) * 4,
                     hyper=(256,) * 3, description="Conv-Hyperprior, App. A.3 large"))

# Trainable on a 2-core CPU (about 1-2 s per step at batch 8 of 128x128 crops).
_CONV_CPU = dict(analysis=(128, 128, 128, 192), hyper=(128, 128, 128))
_SWIN_CPU = dict(analysis=(48, 64, 96, 160), hyper=(96, 96), depths=(1, 1, 2, 1, 2, 1))
register(CodecConfig("conv-hyperprior-cpu", "ConvHyperprior", **_CONV_CPU,
                     description="Conv-Hyperprior sized for CPU training (N=128, M=192)"))
register(CodecConfig("conv-charm-cpu", "ConvChARM", **_CONV_CPU, num_slices=6,
                     description="Conv-ChARM sized for CPU training, 6 slices"))
register(CodecConfig("swint-hyperprior-cpu", "SwinTHyperprior", **_SWIN_CPU,
                     description="SwinT-Hyperprior sized for CPU training"))
register(CodecConfig("swint-charm-cpu", "SwinTChARM", **_SWIN_CPU, num_slices=5,
                     description="SwinT-ChARM sized for CPU training, 5 slices"))
_SWIN_CPU_WIDE = dict(analysis=(64, 96, 128, 192), hyper=(128, 128), depths=(1, 1, 2, 1, 2, 1),
                      fixed_windows=True, hyper_plain_embedding=True)
register(CodecConfig("swint-hyperprior-cpu-wide", "SwinTHyperprior", **_SWIN_CPU_WIDE,
                     description="SwinT-Hyperprior sized for CPU training, 192 latents, fixed windows"))

# Tiny: for tests and the untrained demo.
_CONV_TINY = dict(analysis=(8, 8, 8, 12), hyper=(8, 8, 8))
_SWIN_TINY = dict(analysis=(8, 8, 16, 16), hyper=(8, 8), depths=(1, 1, 1, 2, 1, 1),
                  windows=(4, 2), head_dim=8)
register(CodecConfig("conv-hyperprior-tiny", "ConvHyperprior", **_CONV_TINY,
                     description="tiny Conv-Hyperprior for tests"))
register(CodecConfig("conv-charm-tiny", "ConvChARM", **_CONV_TINY, num_slices=3,
                     description="tiny Conv-ChARM for tests"))
register(CodecConfig("swint-hyperprior-tiny", "SwinTHyperprior", **_SWIN_TINY,
                     description="tiny SwinT-Hyperprior for tests"))
register(CodecConfig("swint-charm-tiny", "SwinTChARM", **_SWIN_TINY, num_slices=2,
                     description="tiny SwinT-ChARM for tests"))
