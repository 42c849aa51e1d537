"""Codec wrappers: modules around an image codec, built from ``CodecConfig.wrapper``.

A wrapper config has a ``kind``; :data:`WRAPPERS` maps it to a builder
``(CodecConfig) -> codec`` that returns a module with the :class:`ImageCodec` interface
(``__call__``, ``prepare_for_compression``, ``compress``, ``decompress``, ...).
"""
from __future__ import annotations

from typing import Any, Callable

from tfc_swin.registry import Registry

WRAPPERS: Registry[Callable[[Any], Any]] = Registry("codec wrapper kind")
