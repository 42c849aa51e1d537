"""Evaluation instruments: metrics, classical anchors, RD runner, BD-rate, plots and tables.

Modules: ``protocol`` (the codec protocol), ``resolve`` (codec spec -> points), ``anchors``
(JPEG, WebP, JPEG 2000, AVIF, HEVC 4:4:4 via Pillow / pillow-heif), ``metrics`` (PSNR,
MS-SSIM, bpp), ``runner`` (RD evaluation with resume), ``results`` (JSON/CSV schema, external
imports), ``bdrate`` (paper App. C BD-rate, BD-PSNR), ``plots`` (RD / rate-saving PNGs,
BD-rate tables) and ``tables`` (markdown tables). Model profiling is :mod:`tfc_swin.profiling`.
See docs/evaluation.md.
"""
