"""Tensor sizes that are Python ints where the traced graph knows them (issue 16).

Layers written for any image size read sizes with :func:`dims`: static sizes (a training step
on fixed crops) then give static reshapes, pads and slices, whose gradients need no forward
tensor; sizes read with ``tf.shape`` make the backward pass keep a forward tensor alive just to
take its shape (a reshape's or slice's input, a full activation per Swin block).
"""
from __future__ import annotations

import tensorflow as tf

Dim = int | tf.Tensor


def dims(x: tf.Tensor) -> list[Dim]:
  """``x``'s sizes: a Python int where the static shape has it, else a scalar tensor."""
  static = x.shape.as_list()
  if all(d is not None for d in static):
    return static
  dynamic = tf.shape(x)
  return [d if d is not None else dynamic[i] for i, d in enumerate(static)]


def is_static(*sizes: Dim) -> bool:
  """Whether every size is a Python int."""
  return all(isinstance(s, int) for s in sizes)
