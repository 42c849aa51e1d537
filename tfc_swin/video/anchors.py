"""x264 (AVC) and x265 (HEVC) video anchors through ffmpeg (Zhu et al. 2022, App. B.2.2).

The paper's commands (low-delay P, GOP 12, sec. 4.1)::

    ffmpeg -y -pix_fmt yuv420p -s [resolution] -r [frame-rate] -i [input yuv420 raw video]
      -c:v libx265 -preset medium -crf [9, 12, 15, 18, 21, 24, 27, 30] -tune zerolatency
      -x265-params "keyint=12:min-keyint=12:verbose=1" [output mkv file path]

and the same with ``-c:v libx264`` / ``-x264-params``. :func:`encode_command` builds exactly
these argument lists (plus ``-nostdin -hide_banner``, which only affect the terminal). Neither
library knows a ``verbose`` parameter: through ffmpeg 5.1 both log a warning and ignore it, so
it does not change the stream; it is kept to match the paper. ``threads`` (off by default)
adds ``-threads N`` for x264 or ``pools=N`` to the x265 parameters; note that with
``-tune zerolatency`` x264 uses sliced threads, so its output depends on the thread count
(ffmpeg's default is 1.5 x the CPU cores).

The frames of a :class:`tfc_swin.video.frames.FrameSource` are written to a raw ``yuv420p``
file (a raw YUV source is used as it is), encoded once per CRF, decoded back by ffmpeg to
``yuv420p`` through a pipe and compared frame by frame (bounded memory):

* rate: the size of the whole output file (container included) gives ``bpp``; per-frame bytes
  are the coded packet sizes reported by ffprobe (their sum is ``stream_bytes``);
* YUV PSNR (6:1:1): encoder input planes vs decoded planes;
* RGB PSNR: the source's RGB frames vs the decoded planes converted to RGB with the source's
  YUV -> RGB conversion (``source.yuv_method``; ``"exact"`` for RGB sources).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from fractions import Fraction

from tfc_swin.video.frames import (FrameSource, YUVFrames, pipe_frames, run_tool, split_yuv420,
                                   write_yuv420, yuv420_frame_bytes, yuv420_to_rgb)
from tfc_swin.video.metrics import FrameMetrics, FrameSeries, frame_metrics, sequence_metrics

CODECS = {"x264": ("libx264", "-x264-params"), "x265": ("libx265", "-x265-params")}
CRFS = (9, 12, 15, 18, 21, 24, 27, 30)
GOP_SIZE = 12
PRESET = "medium"
TUNE = "zerolatency"
DEFAULT_FRAME_RATE = Fraction(30)
_VERSION_PATTERNS = {"x264": rb"x264 - core \d+ r\d+ [0-9a-f]+",
                     "x265": rb"x265 \(build \d+\) - [^: ]+"}


def encoder_params(gop_size: int = GOP_SIZE) -> str:
  """The ``-x26?-params`` value of App. B.2.2."""
  return f"keyint={gop_size}:min-keyint={gop_size}:verbose=1"


def encode_command(codec: str, crf: int, width: int, height: int, frame_rate: Fraction | str,
                   input_path: str, output_path: str, gop_size: int = GOP_SIZE,
                   preset: str = PRESET, threads: int | None = None) -> list[str]:
  """The App. B.2.2 ffmpeg command for one CRF (``codec`` is "x264" or "x265")."""
  if codec not in CODECS:
    raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
  library, params_flag = CODECS[codec]
  params = encoder_params(gop_size)
  extra = []
  if threads is not None:
    if codec == "x265":
      params += f":pools={int(threads)}"
    else:
      extra = ["-threads", str(int(threads))]
  return ["ffmpeg", "-nostdin", "-hide_banner", "-y", "-pix_fmt", "yuv420p",
          "-s", f"{width}x{height}", "-r", str(Fraction(frame_rate)), "-i", input_path,
          "-c:v", library, *extra, "-preset", preset, "-crf", str(crf), "-tune", TUNE,
          params_flag, params, output_path]


def decode_command(path: str) -> list[str]:
  """ffmpeg command decoding a stream to raw ``yuv420p`` on stdout."""
  return ["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0", "-f", "rawvideo",
          "-pix_fmt", "yuv420p", "-"]


@dataclasses.dataclass(frozen=True)
class AnchorResult(FrameSeries):
  """One codec at one CRF on one sequence."""
  codec: str
  crf: int
  command: tuple[str, ...]
  encoder: str  # version string found in the stream, e.g. "x264 - core 164 r3095 baee400"
  width: int
  height: int
  frame_rate: str
  file_bytes: int  # whole output file (container included): gives bpp
  stream_bytes: int  # sum of the coded frames (packets)
  bpp: float
  stream_bpp: float
  psnr_rgb: float
  psnr_yuv: float
  psnr_y: float
  psnr_u: float
  psnr_v: float
  frames: tuple[FrameMetrics, ...]  # num_bytes = packet size of each frame

  @property
  def frame_types(self) -> str:
    return "".join(f.frame_type or "?" for f in self.frames)


def probe_frames(path: str) -> list[tuple[int, str]]:
  """``(packet bytes, picture type)`` of each frame of a stream, display order (ffprobe)."""
  result = run_tool(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                     "frame=pkt_size,pict_type", "-of", "json", path], f"ffprobe {path}")
  frames = json.loads(result.stdout or b"{}").get("frames") or []
  return [(int(f.get("pkt_size", 0)), str(f.get("pict_type", "?"))) for f in frames]


def _encoder_version(path: str, codec: str) -> str:
  with open(path, "rb") as f:
    head = f.read(1 << 16)
  match = re.search(_VERSION_PATTERNS[codec], head)
  return match.group(0).decode("ascii", "replace") if match else ""


def _frame_count(source: FrameSource, max_frames: int | None) -> int | None:
  if source.num_frames is None:
    return max_frames
  return source.num_frames if max_frames is None else min(max_frames, source.num_frames)


def run_anchor(source: FrameSource, codec: str = "x264", crfs: Iterable[int] = CRFS, *,
               frame_rate: Fraction | str | None = None, max_frames: int | None = None,
               gop_size: int = GOP_SIZE, threads: int | None = None,
               work_dir: str | None = None, keep_dir: str | None = None) -> list[AnchorResult]:
  """Encodes ``source`` with x264 or x265 at each CRF; one :class:`AnchorResult` per CRF.

  ``frame_rate`` defaults to the source's (else 30); ``max_frames`` takes the first frames
  only. Temporary files go to ``work_dir`` (default: the system temp dir); ``keep_dir``, if
  given, receives the coded streams as ``<codec>_crf<crf>.mkv``.
  """
  if codec not in CODECS:
    raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
  if max_frames is not None and max_frames < 1:
    raise ValueError("max_frames must be positive")
  rate = Fraction(frame_rate or source.frame_rate or DEFAULT_FRAME_RATE)
  height, width = source.height, source.width
  rgb_method = source.yuv_method or "exact"
  results = []
  with tempfile.TemporaryDirectory(prefix="tfc_swin-anchor-", dir=work_dir) as tmp:
    count = _frame_count(source, max_frames)
    if isinstance(source, YUVFrames) and count == source.num_frames:
      input_path = source.path
    else:
      input_path = os.path.join(tmp, "input.yuv")
      count = write_yuv420(itertools.islice(source.iter_yuv(), max_frames), input_path)
    original = YUVFrames(input_path, width, height)
    for crf in crfs:
      output = os.path.join(tmp, f"{codec}_crf{crf}.mkv")
      command = encode_command(codec, crf, width, height, rate, input_path, output, gop_size,
                               threads=threads)
      run_tool(command, f"{codec} encoding at CRF {crf}")
      packets = probe_frames(output)
      if len(packets) != count:
        raise RuntimeError(f"{codec} CRF {crf}: {len(packets)} coded frames for {count} "
                           "input frames")
      decoded = (split_yuv420(data, height, width) for data in pipe_frames(
          decode_command(output), yuv420_frame_bytes(height, width), f"decoding {output}"))
      frames = []
      for index, (rgb, planes, out, (size, kind)) in enumerate(zip(
          itertools.islice(source, count), original.iter_yuv(), decoded, packets,
          strict=True)):
        frames.append(frame_metrics(index, rgb, yuv420_to_rgb(*out, method=rgb_method), size,
                                    planes, out, kind))
      file_bytes = os.path.getsize(output)
      summary = sequence_metrics(frames, height, width, file_bytes)
      stream_bytes = sum(f.num_bytes for f in frames)
      results.append(AnchorResult(
          codec, int(crf), tuple(command), _encoder_version(output, codec), width, height,
          str(rate), file_bytes, stream_bytes, summary.bpp,
          8.0 * stream_bytes / (width * height * count), summary.psnr_rgb, summary.psnr_yuv,
          summary.psnr_y, summary.psnr_u, summary.psnr_v, summary.frames))
      if keep_dir is not None:
        os.makedirs(keep_dir, exist_ok=True)
        shutil.copyfile(output, os.path.join(keep_dir, os.path.basename(output)))
      os.unlink(output)
  return results
