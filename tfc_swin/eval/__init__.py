"""Evaluation instruments: metrics, classical anchors, RD runner, BD-rate and plots.

Modules: ``codecs`` (codec protocol, spec resolution), ``anchors`` (JPEG, WebP,
JPEG 2000, AVIF, HEVC 4:4:4 via Pillow / pillow-heif), ``metrics`` (PSNR,
MS-SSIM, bpp), ``runner`` (RD evaluation with resume), ``results`` (JSON/CSV
schema, external imports), ``bdrate`` (paper App. C BD-rate, BD-PSNR) and
``plots`` (RD / rate-saving PNGs, BD-rate tables). See docs/evaluation.md.
"""
