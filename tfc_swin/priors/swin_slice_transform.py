"""ICT's Transformer slice transform (Ghorbel et al. 2023, sec. 3.5, Fig. 3d and 4).

"The tiny slice transform consists of two successive Swin Transformer blocks with an
additional learnable linear projection layer." Registered as slice transform ``"swin"``: the
input is the hyper mean (or scale) slice concatenated with the already-decoded slices (at
most 5, Fig. 4), the output the slice's mean (or scale index). Table 1 (d_7 = 2) fixes the
depth; everything else is our choice:

* width: the blocks run at ``in_channels`` (no input projection); for 320 latents in 10
  slices with at most 5 previous slices that is 32, 64, 96, 128, 160 and then 192;
* windows: 4 (the hyper-transform window of SwinT-ChARM, fits the 1/16 latent of 256 crops),
  the first block unshifted, the second shifted by 2, ``fixed_window=True`` (the same
  computation on training crops and large images);
* heads: at most ``max_heads`` (8) heads whose width is a power of two,
  ``head_dim = 2 ** ceil(log2(width / 8))``: 4, 8, 16, 16, 32 and 32 for widths 32 ... 192
  (8, 8, 6, 8, 5, 6 heads) — see :func:`ict_head_dim`;
* blocks as in the transforms: LayerNorm, qkv bias, relative position bias, MLP ratio 4,
  GELU;
* "linear projection": a 3x3 convolution with bias to ``out_channels`` (the ChARM convs'
  kernel size; a 1x1 projection would be 737k parameters lighter, see below).

Parameter count. One transform at width C with h heads: blocks ``2 * (12 C^2 + 13 C + 49 h)``
plus projection ``9 * 32 C + 32`` (32 outputs). The 20 transforms of ``ChannelARPrior(320,
10, slice_transform="swin", max_support=5)`` have 12,468,420 parameters; with our SwinT-ChARM
transforms and hyperprior (24,666,372) ICT has 37,134,792 — Table 4: 37.1324M (+0.006%);
``build_codec`` of swint-charm with ``ChARM(slice_transform="swin", max_support=5)`` counts
the same 37,134,792.
The match supports MLP ratio 4 and the 3x3 projection: MLP ratio 2 gives 33.27M (-10.4%), a
1x1 projection 36.40M (-2.0%). The head rule only changes the relative position bias tables:
a fixed head width of 32 (1 to 6 heads) gives 37,130,872 (-0.004%), as close; the count cannot
tell them apart, we follow the head widths 4, 8, 16, 16, 32 given for ICT.
"""
from __future__ import annotations

from typing import Any

import tensorflow as tf

from tfc_swin.layers import SwinTransformerBlock
from tfc_swin.priors.slice_transforms import register_slice_transform


def ict_head_dim(width: int, max_heads: int = 8) -> int:
  """Head width for a Swin block of ``width`` features: the smallest power of two giving at
  most ``max_heads`` heads (32 -> 4, 64 -> 8, 96 -> 16, 128 -> 16, 160 -> 32, 192 -> 32).

  Widths that this power of two does not divide fall back to ``width / h`` with h the
  largest divisor of ``width`` not above ``max_heads``.
  """
  width, max_heads = int(width), int(max_heads)
  head_dim = 1
  while head_dim * max_heads < width:
    head_dim *= 2
  if width % head_dim == 0:
    return head_dim
  heads = max(h for h in range(1, max_heads + 1) if width % h == 0)
  return width // heads


@register_slice_transform("swin")
@tf.keras.utils.register_keras_serializable("tfc_swin")
class SwinSliceTransform(tf.keras.layers.Layer):
  """Swin block (W-MSA) -> Swin block (SW-MSA) -> 3x3 conv: ``in_channels`` -> ``out_channels``.

  Same constructor interface as :class:`ConvSliceTransform`; the input must have
  ``in_channels`` channels; any spatial size (windows are padded, see ``fixed_window``).
  ``head_dim=None`` uses :func:`ict_head_dim`. ``uncapped_in_channels`` (ChARM's input width
  without its support cap) is accepted for the common interface and not used: the blocks run
  at the width they read. Module docstring: the choices and the count.
  """

  def __init__(self, in_channels: int, out_channels: int, window_size: int = 4,
               head_dim: int | None = None, mlp_ratio: float = 4.0, depth: int = 2,
               kernel_size: int = 3, max_heads: int = 8,
               uncapped_in_channels: int | None = None, **kwargs):
    super().__init__(**kwargs)
    self.in_channels = int(in_channels)
    self.uncapped_in_channels = int(uncapped_in_channels or in_channels)
    self.out_channels = int(out_channels)
    self.window_size = int(window_size)
    self.max_heads = int(max_heads)
    self.head_dim = (ict_head_dim(self.in_channels, self.max_heads) if head_dim is None
                     else int(head_dim))
    self.mlp_ratio = float(mlp_ratio)
    self.depth = int(depth)
    self.kernel_size = int(kernel_size)
    self.blocks = [
        SwinTransformerBlock(self.window_size, shift=i % 2 == 1, head_dim=self.head_dim,
                             mlp_ratio=self.mlp_ratio, fixed_window=True, name=f"block{i}")
        for i in range(self.depth)]
    self.projection = tf.keras.layers.Conv2D(self.out_channels, self.kernel_size,
                                             padding="same", name="projection")

  def build(self, input_shape: tf.TensorShape) -> None:
    if int(input_shape[-1]) != self.in_channels:
      raise ValueError(f"expected {self.in_channels} input channels, got {input_shape[-1]}")
    super().build(input_shape)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    for block in self.blocks:
      x = block(x)
    return self.projection(x)

  def get_config(self) -> dict[str, Any]:
    return {**super().get_config(), "in_channels": self.in_channels,
            "out_channels": self.out_channels, "window_size": self.window_size,
            "head_dim": self.head_dim, "mlp_ratio": self.mlp_ratio, "depth": self.depth,
            "kernel_size": self.kernel_size, "max_heads": self.max_heads,
            "uncapped_in_channels": self.uncapped_in_channels}
