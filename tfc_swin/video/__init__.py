"""Video building blocks for the P-frame codecs (Conv-SSF, SwinT-SSF; Zhu et al. 2022, sec. 3.2).

* :mod:`tfc_swin.video.bitstream`: the ``.tfsv`` file format, written and read frame by frame.
* :mod:`tfc_swin.video.frames`: frame sources / sinks (PNG folders, ffmpeg, raw YUV 4:2:0) and
  RGB <-> YUV 4:2:0 conversion.
* :mod:`tfc_swin.video.metrics`: per-frame / per-sequence RGB and YUV 6:1:1 PSNR, bpp.
* :mod:`tfc_swin.video.anchors`: x264 / x265 anchors through ffmpeg (Zhu et al. App. B.2.2).
* :mod:`tfc_swin.video.coder`: :class:`~tfc_swin.video.coder.VideoCoder`, frames <-> ``.tfsv``
  files with a :class:`~tfc_swin.codecs.video.PFrameCodec` (imports TensorFlow, so it is not
  imported here: the other modules stay TensorFlow-free).

The scale-space warp layer is :class:`tfc_swin.layers.ScaleSpaceWarp`.
"""
