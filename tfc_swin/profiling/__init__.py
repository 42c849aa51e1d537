"""Model profiling (Zhu et al. 2022 Tables 3-6, App. D.3): parameters, MACs and peak memory
per codec module (``complexity``), and per-stage coding speed next to the machine's compute
floor (``timing``). Works on the public parts of :class:`tfc_swin.codecs.ImageCodec`; see
docs/complexity.md."""
