"""tfc_swin: learned image codecs with Swin-Transformer and ConvNet transforms, built on
TensorFlow Compression (Zhu et al., ICLR 2022; Ghorbel et al. 2023).

Main entry points: :mod:`tfc_swin.zoo` (``load(name, quality)``), :mod:`tfc_swin.codecs`
(the tf.Module codecs), :mod:`tfc_swin.configs` (the config registry), and the ``tfc-swin``
command line.
"""
__version__ = "0.1.0"
