"""The config registry: every codec the package knows, by name, as a composition of parts.

A :class:`CodecConfig` names its parts: a transform (:class:`ConvTransform` or
:class:`SwinTransform`: g_a, g_s, h_a, h_s), a latent prior (:class:`Hyperprior` or
:class:`ChARM`) and an optional wrapper around the whole codec (e.g. AICT's scale adaptation).
Each part kind is registered under its ``kind`` string and built by the registry of its
package (:mod:`tfc_swin.transforms`, :mod:`tfc_swin.priors`, :mod:`tfc_swin.codecs`).

Paper sizes come from Zhu et al. 2022 App. A (medium = the models of Tables 1 and 3; small /
large = the scaling study of App. A.3; ``-a5`` = ablation A5 of App. F). ``-cpu`` configs are
small enough to train on a 2-core CPU; ``-tiny`` configs exist for tests and demos.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Optional, Self, Union

from tfc_swin.registry import Registry

#: Part config classes by their ``kind`` (what :meth:`CodecConfig.from_dict` reads back).
PART_KINDS: Registry[type] = Registry("config part kind")


def _part(cls: type) -> type:
  return PART_KINDS.register(cls.kind)(cls)


class _Part:
  """Serialization shared by the part configs: ``{"kind": ..., **fields}``."""
  kind: ClassVar[str] = ""

  def to_dict(self) -> dict[str, Any]:
    return {"kind": self.kind, **dataclasses.asdict(self)}

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> Self:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names - {"kind"}
    if unknown:
      raise ValueError(f"unknown {cls.kind} config fields: {sorted(unknown)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v
                  for k, v in d.items() if k in names})


# -- transforms -------------------------------------------------------------------------------
@_part
@dataclasses.dataclass(frozen=True)
class ConvTransform(_Part):
  """GDN ConvNet transforms (App. A.1, Fig. 10-11).

  analysis: g_a widths (C1, C2, C3, C4) of its four 5x5 stride-2 convolutions; C4 = latent
    channels. g_s mirrors them.
  hyper: h_a widths (C5, C6, C7); C7 = hyper-latent channels. h_s mirrors them.
  in_channels / out_channels: of g_a / g_s (3 for images; the SSF flow codec reads 6).
  """
  kind: ClassVar[str] = "conv"
  label: ClassVar[str] = "Conv"
  analysis: tuple[int, int, int, int]
  hyper: tuple[int, int, int]
  in_channels: int = 3
  out_channels: int = 3

  @property
  def latent_channels(self) -> int:
    return self.analysis[-1]

  @property
  def hyper_channels(self) -> int:
    return self.hyper[-1]


@dataclasses.dataclass(frozen=True)
class SwinStage:
  """One encoder stage: patch merge (sides / ``downsample``) to ``channels``, then ``depth``
  Swin blocks."""
  channels: int
  depth: int
  downsample: int = 2


def swin_stages(channels: tuple[int, ...], depths: tuple[int, ...],
                downsample: tuple[int, ...] = ()) -> tuple[SwinStage, ...]:
  if len(channels) != len(depths):
    raise ValueError(f"{len(channels)} stage widths but {len(depths)} depths")
  factors = downsample or (2,) * len(channels)
  return tuple(SwinStage(int(c), int(d), int(f)) for c, d, f in zip(channels, depths, factors))


@_part
@dataclasses.dataclass(frozen=True)
class SwinTransform(_Part):
  """Swin-Transformer transforms (sec. 3.1, Fig. 2 and 13, App. A.2).

  analysis: g_a stages (the last stage's channels are the latent channels); g_s mirrors them
    (same widths and depths in reverse order, patch splits instead of merges).
  hyper: h_a stages (the last is the hyper-latent); h_s mirrors them.
  window / hyper_window: window sizes of g_a, g_s / h_a, h_s. head_dim: features per head.
  fixed_windows: never shrink the window or drop the shift on small maps (see
    :mod:`tfc_swin.layers.swin`); hyper_plain_embedding: h_a's first merge is a linear patch
    embedding with bias (as in the paper's implementations) instead of LayerNorm + linear.
  layer_norm: LayerNorm in the blocks and merges (off in SwinT-SSF's flow codec, sec. 3.2).
  in_channels / out_channels: of g_a / g_s (3 for images; the SSF flow codec reads 6).
  conv_hyper: when set, h_a / h_s are the conv ones of these widths (C5, C6, C7): SwinT-SSF
    replaces only g_a / g_s (sec. 3.2); ``hyper`` is then empty.
  """
  kind: ClassVar[str] = "swin"
  label: ClassVar[str] = "SwinT"
  analysis: tuple[SwinStage, ...]
  hyper: tuple[SwinStage, ...]
  window: int = 8
  hyper_window: int = 4
  head_dim: int = 32
  relative_position_bias: bool = True
  shifted_windows: bool = True
  fixed_windows: bool = False
  hyper_plain_embedding: bool = False
  layer_norm: bool = True
  in_channels: int = 3
  out_channels: int = 3
  conv_hyper: Optional[tuple[int, int, int]] = None

  @property
  def latent_channels(self) -> int:
    return self.analysis[-1].channels

  @property
  def hyper_channels(self) -> int:
    return self.conv_hyper[-1] if self.conv_hyper else self.hyper[-1].channels

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "SwinTransform":
    stages = lambda items: tuple(  # noqa: E731
        s if isinstance(s, SwinStage) else SwinStage(**s) for s in items)
    return super().from_dict({**d, "analysis": stages(d["analysis"]),
                              "hyper": stages(d["hyper"])})


# -- latent priors ----------------------------------------------------------------------------
@_part
@dataclasses.dataclass(frozen=True)
class Hyperprior(_Part):
  """Mean-scale hyperprior (Minnen et al. 2018): y ~ N(mu, sigma) with (mu, sigma) = h_s(z)."""
  kind: ClassVar[str] = "hyperprior"
  label: ClassVar[str] = "Hyperprior"
  num_scales: int = 64


@_part
@dataclasses.dataclass(frozen=True)
class ChARM(_Part):
  """Channel-wise autoregressive prior (Minnen & Singh 2020; Zhu et al. Fig. 12).

  slice_transform: the network kind predicting each slice's mean and scale (``conv``, or
  ``swin`` for ICT's Transformer slice transform, Ghorbel et al. 2023 sec. 3.5); max_support:
  at most this many previous slices are read (None: all).
  """
  kind: ClassVar[str] = "charm"
  num_slices: int = 10
  slice_transform: str = "conv"
  max_support: Optional[int] = None
  num_scales: int = 64

  @property
  def label(self) -> str:
    return "ChARM" if self.slice_transform == "conv" else f"ChARM[{self.slice_transform}]"


# -- wrappers ---------------------------------------------------------------------------------
@_part
@dataclasses.dataclass(frozen=True)
class ScaleAdaptation(_Part):
  """AICT's scale adaptation (Ghorbel et al. 2023 sec. 3.3, Fig. 2-3) around an image codec.

  A resize-parameter network predicts s in [min_scale, 1] per image; a ConvNeXt
  pre-processor and a bicubic down-scaler make a canvas of about (sH, sW) that the inner codec
  codes; a bicubic up-scaler and a ConvNeXt post-processor restore (H, W). s is quantized to
  ``scale_levels`` steps from min_scale to 1 and sent in the file; s >= skip_above skips the
  module (the image is coded at full size, as the paper does for s near 1).
  """
  kind: ClassVar[str] = "scale_adaptation"
  label: ClassVar[str] = "SA"
  min_scale: float = 0.25
  scale_levels: int = 64
  skip_above: float = 0.95
  processor_width: int = 32
  resize_widths: tuple[int, int, int] = (8, 16, 32)


TransformConfig = Union[ConvTransform, SwinTransform]
PriorConfig = Union[Hyperprior, ChARM]


# -- codecs -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class CodecConfig:
  """One codec: its parts, the paper's parameter count (millions, None if none) and a text."""
  name: str
  transform: TransformConfig
  prior: PriorConfig
  wrapper: Optional[Any] = None
  paper_params_m: Optional[float] = None
  description: str = ""

  @property
  def family(self) -> str:
    """Display name of the composition, e.g. ``SwinT-ChARM``."""
    parts = [self.transform.label, self.prior.label]
    return "-".join(parts) + (f"+{self.wrapper.label}" if self.wrapper else "")

  @property
  def latent_channels(self) -> int:
    return self.transform.latent_channels

  @property
  def hyper_channels(self) -> int:
    return self.transform.hyper_channels

  def to_dict(self) -> dict[str, Any]:
    return {"name": self.name, "transform": self.transform.to_dict(),
            "prior": self.prior.to_dict(),
            "wrapper": self.wrapper.to_dict() if self.wrapper else None,
            "paper_params_m": self.paper_params_m, "description": self.description}

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "CodecConfig":
    """Reads :meth:`to_dict` output, or the flat dict that zoo versions 0-3 stored."""
    if "family" in d:
      return _from_flat_dict(d)
    part = lambda p: PART_KINDS.get(p["kind"]).from_dict(p) if p else None  # noqa: E731
    return cls(d["name"], part(d["transform"]), part(d["prior"]), part(d.get("wrapper")),
               d.get("paper_params_m"), d.get("description", ""))


_FLAT_FAMILIES = {"ConvHyperprior": ("conv", "hyperprior"), "ConvChARM": ("conv", "charm"),
                  "SwinTHyperprior": ("swin", "hyperprior"), "SwinTChARM": ("swin", "charm")}


def _from_flat_dict(d: dict[str, Any]) -> CodecConfig:
  """The flat config of zoo versions 0-3 (one dataclass for every family) -> parts."""
  if d["family"] not in _FLAT_FAMILIES:
    raise ValueError(f"unknown codec family {d['family']!r}")
  transform_kind, prior_kind = _FLAT_FAMILIES[d["family"]]
  if transform_kind == "conv":
    transform = ConvTransform(tuple(d["analysis"]), tuple(d["hyper"]))
  else:
    depths, (window, hyper_window) = d["depths"], d.get("windows", (8, 4))
    transform = SwinTransform(
        swin_stages(tuple(d["analysis"]), tuple(depths[:4])),
        swin_stages(tuple(d["hyper"]), tuple(depths[4:6])), window, hyper_window,
        d.get("head_dim", 32), d.get("relative_position_bias", True),
        d.get("shifted_windows", True), d.get("fixed_windows", False),
        d.get("hyper_plain_embedding", False))
  scales = d.get("num_scales", 64)
  prior = (Hyperprior(scales) if prior_kind == "hyperprior" else
           ChARM(d.get("num_slices", 10), d.get("slice_transform", "conv"),
                 num_scales=scales))
  return CodecConfig(d["name"], transform, prior, None, d.get("paper_params_m"),
                     d.get("description", ""))


_CONFIGS: Registry[CodecConfig] = Registry("config")


def register(config: CodecConfig) -> CodecConfig:
  return _CONFIGS.register(config.name)(config)


def get_config(name: str) -> CodecConfig:
  return _CONFIGS.get(name)


def config_names() -> list[str]:
  return _CONFIGS.names()


_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


def with_transform_options(config: CodecConfig, options: str) -> CodecConfig:
  """``config`` with scalar fields of its transform replaced, e.g. ``"fixed_windows=true,
  hyper_plain_embedding=false"`` (ablations, issue 15); ``""`` = ``config`` itself. The name
  gets the options in brackets, so that files and zoo entries say what they were made with."""
  if not options:
    return config
  types = {f.name: type(getattr(config.transform, f.name))
           for f in dataclasses.fields(config.transform)}
  changes = {}
  for item in options.split(","):
    key, _, value = (part.strip() for part in item.partition("="))
    if types.get(key) not in (bool, int, float) or not value:
      raise ValueError(f"transform option {item!r}: expected NAME=VALUE with NAME one of the "
                       f"{config.transform.kind} transform's scalar fields "
                       f"{sorted(k for k, t in types.items() if t in (bool, int, float))}")
    if types[key] is bool:
      if value.lower() not in _TRUE + _FALSE:
        raise ValueError(f"transform option {item!r}: {key} takes true or false")
      changes[key] = value.lower() in _TRUE
    else:
      changes[key] = types[key](value)
  return dataclasses.replace(config, name=f"{config.name}[{options}]",
                             transform=dataclasses.replace(config.transform, **changes))


def _codec(name: str, transform: TransformConfig, prior: PriorConfig, description: str,
           paper_params_m: float | None = None, wrapper: Any = None) -> CodecConfig:
  return register(CodecConfig(name, transform, prior, wrapper, paper_params_m, description))


def _conv(analysis: tuple[int, ...], hyper: tuple[int, ...]) -> ConvTransform:
  return ConvTransform(tuple(analysis), tuple(hyper))


def _swin(analysis: tuple[int, ...], depths: tuple[int, ...], hyper: tuple[int, ...],
          hyper_depths: tuple[int, ...], **kwargs) -> SwinTransform:
  return SwinTransform(swin_stages(analysis, depths), swin_stages(hyper, hyper_depths),
                       **kwargs)


# Paper medium models (App. A.1, A.2; parameter counts from Table 3).
_CONV_MEDIUM = _conv((320,) * 4, (192,) * 3)
_SWIN_MEDIUM = _swin((128, 192, 256, 320), (2, 2, 6, 2), (192, 192), (5, 1))
_codec("conv-hyperprior", _CONV_MEDIUM, Hyperprior(), "Conv-Hyperprior, paper medium size", 21.4)
_codec("conv-charm", _CONV_MEDIUM, ChARM(), "Conv-ChARM, paper medium size, 10 slices", 29.3)
_codec("swint-hyperprior", _SWIN_MEDIUM, Hyperprior(), "SwinT-Hyperprior, paper medium size",
       24.7)
_codec("swint-charm", _SWIN_MEDIUM, ChARM(), "SwinT-ChARM, paper medium size, 10 slices", 32.6)
# Ghorbel et al. 2023 (AICT paper) baseline: SwinT-ChARM reading at most 5 previous slices
# (Fig. 4; Table 4: 31.33M).
_codec("swint-charm-s5", _SWIN_MEDIUM, ChARM(max_support=5),
       "SwinT-ChARM, paper medium size, at most 5 previous slices (AICT paper baseline)", 31.33)
# ICT and AICT (Ghorbel et al. 2023 sec. 3.3-3.5, Table 4: 37.13M and 37.23M): SwinT-ChARM
# transforms, Transformer slice transforms over at most 5 previous slices; AICT adds the scale
# adaptation module.
_ICT_PRIOR = ChARM(slice_transform="swin", max_support=5)
_codec("ict", _SWIN_MEDIUM, _ICT_PRIOR,
       "ICT: SwinT-ChARM with Transformer slice transforms, paper medium size", 37.13)
_codec("aict", _SWIN_MEDIUM, _ICT_PRIOR,
       "AICT: ICT with scale adaptation (resize network, ConvNeXt pre/post-processing)", 37.23,
       wrapper=ScaleAdaptation())
_codec("swint-hyperprior-a5", _swin((128, 192, 256, 320), (2, 2, 5, 1), (192, 192), (5, 1)),
       Hyperprior(), "SwinT-Hyperprior ablation A5 (depths 2,2,5,1)", 20.6)

# Scaling study (App. A.3).
_codec("swint-hyperprior-small", _swin((96, 128, 160, 192), (2, 2, 6, 2), (96, 128), (5, 1)),
       Hyperprior(), "SwinT-Hyperprior, App. A.3 small")
_codec("swint-hyperprior-large", _swin((160, 256, 352, 448), (2, 2, 6, 2), (192, 256), (5, 1)),
       Hyperprior(), "SwinT-Hyperprior, App. A.3 large")
_codec("conv-hyperprior-small", _conv((192,) * 4, (128,) * 3), Hyperprior(),
       "Conv-Hyperprior, App. A.3 small")
_codec("conv-hyperprior-large", _conv((448,) * 4, (256,) * 3), Hyperprior(),
       "Conv-Hyperprior, App. A.3 large")

# Trainable on a 2-core CPU (about 1-2 s per step at batch 8 of 128x128 crops).
_CONV_CPU = _conv((128, 128, 128, 192), (128, 128, 128))
_SWIN_CPU = _swin((48, 64, 96, 160), (1, 1, 2, 1), (96, 96), (2, 1))
_codec("conv-hyperprior-cpu", _CONV_CPU, Hyperprior(),
       "Conv-Hyperprior sized for CPU training (N=128, M=192)")
_codec("conv-charm-cpu", _CONV_CPU, ChARM(num_slices=6),
       "Conv-ChARM sized for CPU training, 6 slices")
_codec("swint-hyperprior-cpu", _SWIN_CPU, Hyperprior(), "SwinT-Hyperprior sized for CPU training")
# SwinT-ChARM on the -cpu transforms, with fixed windows (issue 15, fix 2): starts from the
# shipped swint-hyperprior-cpu (same weights; App. B.1 Hyperprior -> ChARM). Its 5 slices read
# at most 4 previous ones, so it is also the AICT paper's 5-slice-support baseline at CPU size.
_SWIN_CPU_FIXED = dataclasses.replace(_SWIN_CPU, fixed_windows=True)
_codec("swint-charm-cpu", _SWIN_CPU_FIXED, ChARM(num_slices=5),
       "SwinT-ChARM sized for CPU training, 5 slices, fixed windows")
# ICT and AICT at CPU size on the same transforms and slices as swint-charm-cpu, so that the
# three start from the same shipped hyperprior and differ only in the slice transforms and the
# scale adaptation (Ghorbel et al. 2023, Table 4 comparison at CPU size).
_ICT_CPU_PRIOR = ChARM(num_slices=5, slice_transform="swin", max_support=5)
_codec("ict-cpu", _SWIN_CPU_FIXED, _ICT_CPU_PRIOR,
       "ICT sized for CPU training, 5 slices (transforms of swint-charm-cpu)")
_codec("aict-cpu", _SWIN_CPU_FIXED, _ICT_CPU_PRIOR,
       "AICT sized for CPU training, 5 slices (transforms of swint-charm-cpu)",
       wrapper=ScaleAdaptation(processor_width=16))  # 32 would cost more than the codec.
# 192 latents (the 160 of -cpu saturate above about 1.2 bpp on Kodak), fixed windows so that
# 128-pixel training crops run the same shifted blocks as large images, plain h_a embedding.
_SWIN_CPU_WIDE = _swin((64, 96, 128, 192), (1, 1, 2, 1), (128, 128), (2, 1),
                       fixed_windows=True, hyper_plain_embedding=True)
_codec("swint-hyperprior-cpu-wide", _SWIN_CPU_WIDE, Hyperprior(),
       "SwinT-Hyperprior sized for CPU training, 192 latents, fixed windows")

# Tiny: for tests and the untrained demo.
_CONV_TINY = _conv((8, 8, 8, 12), (8, 8, 8))
_SWIN_TINY = _swin((8, 8, 16, 16), (1, 1, 1, 2), (8, 8), (1, 1), window=4, hyper_window=2,
                   head_dim=8)
_codec("conv-hyperprior-tiny", _CONV_TINY, Hyperprior(), "tiny Conv-Hyperprior for tests")
_codec("conv-charm-tiny", _CONV_TINY, ChARM(num_slices=3), "tiny Conv-ChARM for tests")
_codec("swint-hyperprior-tiny", _SWIN_TINY, Hyperprior(), "tiny SwinT-Hyperprior for tests")
_codec("swint-charm-tiny", _SWIN_TINY, ChARM(num_slices=2), "tiny SwinT-ChARM for tests")
_codec("ict-tiny", _SWIN_TINY, ChARM(num_slices=2, slice_transform="swin", max_support=1),
       "tiny ICT for tests")
_codec("aict-tiny", _SWIN_TINY, ChARM(num_slices=2, slice_transform="swin", max_support=1),
       "tiny AICT for tests", wrapper=ScaleAdaptation(processor_width=8, resize_widths=(4, 4, 4)))


# -- P-frame video codecs (Zhu et al. sec. 3.2, App. A.2; Agustsson et al. 2020) ---------------
@dataclasses.dataclass(frozen=True)
class MotionHint:
  """An encoder-side motion hint (not in the papers; :mod:`tfc_swin.layers.motion_search`):
  the flow encoder also sees a block-matching flow (``block`` x ``block`` blocks, full search
  of +-``search`` pixels), 2 more input channels. Decoder and file format are unchanged."""
  block: int = 8
  search: int = 16


@dataclasses.dataclass(frozen=True)
class VideoCodecConfig:
  """A scale-space-flow P-frame codec: three hyperprior codecs composed.

  iframe: the image codec of the first frame of a GOP (a registered image config name, so that
    it can start from a shipped image model); flow: codes the scale-space flow from the current
    and the previous decoded frame (6 channels in, 3 out: flow x, flow y, scale); residual:
    codes the difference between the frame and its warped prediction. gop_size: frames per
    group (one I-frame, then P-frames predicted from the previous decoded frame).
    motion_hint: with a :class:`MotionHint`, the flow encoder also gets a block-matching flow
    (then its transform takes 8 channels).
  """
  name: str
  iframe: str
  flow: CodecConfig
  residual: CodecConfig
  gop_size: int = 12
  description: str = ""
  motion_hint: Optional[MotionHint] = None

  @property
  def family(self) -> str:
    return f"SSF[{self.flow.transform.label}/{self.residual.transform.label}]"

  def to_dict(self) -> dict[str, Any]:
    hint = {"motion_hint": dataclasses.asdict(self.motion_hint)} if self.motion_hint else {}
    return {"name": self.name, "iframe": self.iframe, "flow": self.flow.to_dict(),
            "residual": self.residual.to_dict(), "gop_size": self.gop_size,
            "description": self.description, **hint}

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "VideoCodecConfig":
    hint = d.get("motion_hint")
    return cls(d["name"], d["iframe"], CodecConfig.from_dict(d["flow"]),
               CodecConfig.from_dict(d["residual"]), d.get("gop_size", 12),
               d.get("description", ""), MotionHint(**hint) if hint else None)


_VIDEO_CONFIGS: Registry[VideoCodecConfig] = Registry("video config")


def get_video_config(name: str) -> VideoCodecConfig:
  return _VIDEO_CONFIGS.get(name)


def video_config_names() -> list[str]:
  return _VIDEO_CONFIGS.names()


def _video(name: str, iframe: str, flow: TransformConfig, residual: TransformConfig,
           description: str, motion_hint: Optional[MotionHint] = None) -> VideoCodecConfig:
  if iframe not in _CONFIGS:
    raise ValueError(f"{name}: unknown I-frame config {iframe!r}")
  expected = 8 if motion_hint else 6  # two frames (and the hint's dx, dy)
  if flow.in_channels != expected:
    raise ValueError(f"{name}: the flow transform takes {flow.in_channels} channels, not "
                     f"{expected}")
  parts = {"flow": flow, "residual": residual}
  sub = {k: CodecConfig(f"{name}/{k}", t, Hyperprior(), description=f"{description}: {k}")
         for k, t in parts.items()}
  return _VIDEO_CONFIGS.register(name)(
      VideoCodecConfig(name, iframe, sub["flow"], sub["residual"], description=description,
                       motion_hint=motion_hint))


def _with_motion_hint(name: str) -> VideoCodecConfig:
  """``name``-bm: the registered config ``name`` with a :class:`MotionHint` (8-channel flow
  encoder, same everything else)."""
  base = _VIDEO_CONFIGS.get(name)
  flow = dataclasses.replace(base.flow.transform, in_channels=8)
  return _video(f"{name}-bm", base.iframe, flow, base.residual.transform,
                f"{base.description}, with a block-matching motion hint (not in the paper)",
                MotionHint())


def _ssf_conv(analysis: tuple[int, ...], hyper: tuple[int, ...], in_channels: int = 3
              ) -> ConvTransform:
  return ConvTransform(tuple(analysis), tuple(hyper), in_channels=in_channels)


def _ssf_swin(widths: tuple[int, ...], depths: tuple[int, ...], hyper: tuple[int, ...],
              window: int, layer_norm: bool, in_channels: int = 3, head_dim: int = 32
              ) -> SwinTransform:
  """SwinT-SSF g_a / g_s (App. A.2): a x4 first merge, then two x2 merges; conv h_a / h_s."""
  return SwinTransform(swin_stages(widths, depths, (4, 2, 2)), (), window=window,
                       head_dim=head_dim, layer_norm=layer_norm, fixed_windows=True,
                       in_channels=in_channels, conv_hyper=tuple(hyper))


# Paper size. Conv-SSF follows Agustsson et al. 2020 (N=128, M=192 in each autoencoder; the
# hyperprior widths are not given: 192); SwinT-SSF: embed dim 96, stages 96/192/192 with
# depths 2, 4, 2 (the paper gives the embed and latent dims; 192 for the middle stage is our
# choice), window 4 without LayerNorm for the flow codec, window 8 for the residual codec.
_SSF_IFRAME = "conv-hyperprior-ssf"
_codec(_SSF_IFRAME, _conv((128, 128, 128, 192), (192, 192, 192)), Hyperprior(),
       "Conv-Hyperprior I-frame codec of Conv-SSF / SwinT-SSF (N=128, M=192)")
_CONV_FLOW = _ssf_conv((128, 128, 128, 192), (192, 192, 192), in_channels=6)
_CONV_RESIDUAL = _ssf_conv((128, 128, 128, 192), (192, 192, 192))
_SWIN_FLOW = _ssf_swin((96, 192, 192), (2, 4, 2), (192, 192, 192), 4, False, in_channels=6)
_SWIN_RESIDUAL = _ssf_swin((96, 192, 192), (2, 4, 2), (192, 192, 192), 8, True)
_video("conv-ssf", _SSF_IFRAME, _CONV_FLOW, _CONV_RESIDUAL, "Conv-SSF, paper size")
_video("swint-ssf", _SSF_IFRAME, _SWIN_FLOW, _SWIN_RESIDUAL, "SwinT-SSF, paper size")
_video("swint-ssf-res", _SSF_IFRAME, _CONV_FLOW, _SWIN_RESIDUAL,
       "SwinT-SSF-Res (SwinT in the residual codec only), paper size")

# CPU size: the I-frame codec is the shipped CPU image model's config.
_CPU_CONV_FLOW = _ssf_conv((64, 64, 64, 96), (64, 64, 96), in_channels=6)
_CPU_CONV_RESIDUAL = _ssf_conv((64, 64, 64, 96), (64, 64, 96))
_CPU_SWIN_FLOW = _ssf_swin((48, 64, 96), (1, 2, 1), (64, 64, 96), 4, False, in_channels=6)
# The SwinT residual codec at CPU size is the shipped image model's transform (four x2 merges,
# Swin h_a / h_s; fixed windows) rather than App. A.2's x4-x2-x2 layout, so that it can start
# from the trained image model (--init_residual): from scratch, the CPU step budget left it no
# better than copying the previous frame (docs/zoo.md).
_CPU_SWIN_RESIDUAL = _SWIN_CPU_FIXED
_CPU_IFRAME = "swint-hyperprior-cpu"
_video("conv-ssf-cpu", _CPU_IFRAME, _CPU_CONV_FLOW, _CPU_CONV_RESIDUAL,
       "Conv-SSF sized for CPU training")
_video("swint-ssf-cpu", _CPU_IFRAME, _CPU_SWIN_FLOW, _CPU_SWIN_RESIDUAL,
       "SwinT-SSF sized for CPU training")
_video("swint-ssf-res-cpu", _CPU_IFRAME, _CPU_CONV_FLOW, _CPU_SWIN_RESIDUAL,
       "SwinT-SSF-Res sized for CPU training")
_with_motion_hint("conv-ssf-cpu")
_with_motion_hint("swint-ssf-cpu")
_with_motion_hint("swint-ssf-res-cpu")

# Tiny: for tests.
_TINY_FLOW = _ssf_swin((8, 8, 16), (1, 1, 1), (8, 8, 8), 2, False, in_channels=6, head_dim=8)
_TINY_RESIDUAL = _ssf_swin((8, 8, 16), (1, 1, 1), (8, 8, 8), 2, True, head_dim=8)
_video("swint-ssf-tiny", "swint-hyperprior-tiny", _TINY_FLOW, _TINY_RESIDUAL,
       "tiny SwinT-SSF for tests")
_video("conv-ssf-tiny", "conv-hyperprior-tiny", _ssf_conv((8, 8, 8, 12), (8, 8, 8), 6),
       _ssf_conv((8, 8, 8, 12), (8, 8, 8)), "tiny Conv-SSF for tests")
_with_motion_hint("swint-ssf-tiny")
