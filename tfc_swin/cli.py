"""The ``tfc-swin`` command line (also ``python -m tfc_swin``).

    tfc-swin models [--zoo]                 registered configs / shipped zoo models (and kinds)
    tfc-swin compress IN OUT [--model M] [--quality Q] [--max-pixels N] [--force] [-v]
    tfc-swin decompress IN OUT.png [--model M] [--max-pixels N] [--timeout S] [--force] [-v]
    tfc-swin info FILE                      header fields of a compressed file
    tfc-swin demo [--model M] [--quality Q] compress + decompress the bundled sample image
    tfc-swin video compress IN OUT.tfsv [--model M] [--quality Q] [--version V] [--gop N]
                            [--width W --height H] [--rate R] [--max-pixels N] [--force]
    tfc-swin video decompress IN.tfsv OUT [--model M] [--quality Q] [--version V]
                              [--max-pixels N] [--timeout S] [--force]
    tfc-swin video info FILE.tfsv          header and frame sizes of a video file

Video input (IN) is a folder of frames, a video file ffmpeg reads, or raw 8-bit YUV 4:2:0
(``*.yuv``, with --width / --height); OUT of ``video decompress`` is a folder (PNG frames
f001.png, ...) or a ``*.yuv`` file. Without --model, ``video compress`` uses the zoo's video
default (``video_default`` in zoo/zoo.json). Progress goes to stderr, one line per frame. Both
``decompress`` commands run the model in a worker process that is killed at the time limit
(:mod:`tfc_swin.isolation`; for videos the limit is per frame).

Errors that users cause (bad input files, a model that does not exist, an existing output,
an image above the pixel limit) print one line ``tfc-swin: error: ...`` and exit with status
1; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from fractions import Fraction
from typing import TYPE_CHECKING

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from tfc_swin.data import SAMPLE_IMAGE  # noqa: E402  (a path; imports nothing heavy)

if TYPE_CHECKING:
  from tfc_swin.coder import Coder
  from tfc_swin.video.coder import VideoCoder


#: The loader of ``video decompress``'s worker process (``module:function``).
VIDEO_DECOMPRESS_LOADER = "tfc_swin.cli:video_decompress_coder"


class CliError(ValueError):
  """A user error found by the command line itself (unknown model, unreadable input)."""


def _user_errors() -> tuple[type[BaseException], ...]:
  """Exception classes that mean bad input rather than a bug (from the modules loaded)."""
  errors: list[type[BaseException]] = [CliError, OSError]
  for module, name in (("tfc_swin.bitstream", "BitstreamError"), ("tfc_swin.zoo", "ZooError"),
                       ("tfc_swin.image_io", "ImageReadError"),
                       ("tfc_swin.coder", "ModelLoadError"),
                       ("tfc_swin.isolation", "WorkerInputError"),
                       ("tfc_swin.video.frames", "FrameSourceError"),
                       ("tfc_swin.video.frames", "FFmpegError")):
    if module in sys.modules:
      errors.append(getattr(sys.modules[module], name))
  return tuple(errors)


def _coder(args):
  """(the coder of ``--model`` / ``--quality`` / ``--version``, {stage: seconds}).

  Zoo models and SavedModel folders load the fast way (:mod:`tfc_swin.fastload`): TensorFlow's
  runtime without its Python API, and only the coding functions that get called (the same
  files as ``tfc_swin.api.load_coder(spec)``, in a fraction of the start-up time). Config names
  (untrained models) need the codecs, and so all of TensorFlow.
  """
  from tfc_swin import zoo  # pylint: disable=import-outside-toplevel
  from tfc_swin.configs import config_names  # pylint: disable=import-outside-toplevel
  spec = args.model
  saved_model = spec is None or spec in zoo.available_models() or os.path.isdir(spec)
  if not (saved_model or spec in config_names()):
    shipped = ", ".join(zoo.available_models()) or "none"
    raise CliError(f"unknown model {spec!r}: not a zoo model ({shipped}"
                   f"), a SavedModel folder, or a config name (see `tfc-swin models`)")
  t0 = time.perf_counter()
  if saved_model:
    from tfc_swin import fastload  # pylint: disable=import-outside-toplevel
    # Before anything imports TensorFlow. A fresh process (the program, a decompress worker)
    # also keeps optimized graphs for the next one; one that has TensorFlow already (tests,
    # library users) does not.
    if fastload.import_runtime():
      fastload.enable_graph_cache()
  t1 = time.perf_counter()
  from tfc_swin.api import load_coder  # pylint: disable=import-outside-toplevel
  coder = load_coder(spec, args.quality, args.version, functions_only=saved_model)
  return coder, {"import TF": t1 - t0, "load model": time.perf_counter() - t1}


def decode_time_limit(pixels: int) -> float:
  """The default ``--timeout`` of decompress: 60 s plus 100 us per pixel (about 10x the decode
  time of the zoo models on a busy 2-core machine)."""
  return 60.0 + 1e-4 * pixels


def _read_file(path: str) -> bytes:
  try:
    with open(path, "rb") as f:
      return f.read()
  except OSError as e:
    raise CliError(f"{path}: {e.strerror}") from None


def cmd_models(args: argparse.Namespace) -> None:
  from tfc_swin import zoo  # pylint: disable=import-outside-toplevel
  if args.zoo:
    _list_zoo(zoo, args.markdown)
    return
  from tfc_swin.codecs import build_codec  # pylint: disable=import-outside-toplevel
  from tfc_swin.configs import config_names, get_config  # pylint: disable=import-outside-toplevel
  print(f"{'name':26s} {'family':16s} {'params':>12s}  description")
  for name in config_names():
    config = get_config(name)
    params = build_codec(config).count_parameters() if args.count else None
    count = f"{params:,}" if params is not None else "-"
    print(f"{name:26s} {config.family:16s} {count:>12s}  {config.description}")


def _list_zoo(zoo, markdown: bool) -> None:
  """One row per shipped model/version/quality, from the manifests (``--markdown``: a table);
  the last column is the model's kind (image or video)."""
  names = zoo.available_models()
  if not names:
    print(f"no models shipped ({zoo.find_root() or 'no zoo folder found'})")
    return
  defaults = {(d.get("model"), d.get("version"), d.get("quality"))
              for d in (zoo.default(k, missing_ok=True) for k in zoo.DEFAULT_KEYS)}
  header = ["model", "version", "quality", "lambda", "steps", "train hours", "training data",
            "Kodak bpp", "Kodak PSNR", "Kodak MS-SSIM", "kind"]
  rows = []
  for name in names:
    kind = zoo.kind(name)
    for version, entry in sorted(zoo.manifest(name)["versions"].items(),
                                 key=lambda kv: int(kv[0])):
      for q, info in sorted(entry["qualities"].items(), key=lambda kv: int(kv[0])):
        kodak = info.get("kodak", {})
        is_default = (name, version, int(q)) in defaults
        hours = info.get("train_hours")
        rows.append([name + (" (default)" if is_default else ""), version, q,
                     info.get("lmbda"), f"{info.get('total_steps', info.get('steps')):,}",
                     "-" if hours is None else f"{hours:.1f}"
                     + (f" (+{info['untracked_steps']:,} untracked steps)"
                        if info.get("untracked_steps") else ""),
                     info.get("training_data", "-"), kodak.get("bpp", "-"),
                     kodak.get("psnr", "-"), kodak.get("ms_ssim", "-"), kind])
  if markdown:
    from tfc_swin.eval.tables import markdown_table  # pylint: disable=import-outside-toplevel
    print(markdown_table(header, rows))
  else:
    for row in rows:
      print("  ".join(f"{h}={c}" if i > 0 else f"{c:34s}" for i, (h, c) in
                      enumerate(zip(header, row))))


def cmd_compress(args: argparse.Namespace) -> None:
  from tfc_swin import image_io  # pylint: disable=import-outside-toplevel
  t0 = time.perf_counter()
  rgb, mode, alpha = image_io.read_image(args.input, max_pixels=args.max_pixels)
  t_read = time.perf_counter() - t0
  coder, t_load = _coder(args)
  data = coder.compress_array(rgb, mode, alpha, max_pixels=args.max_pixels)
  t1 = time.perf_counter()
  image_io.write_bytes(args.output, data, force=args.force, protect=(args.input,))
  t_write = time.perf_counter() - t1
  h, w = rgb.shape[:2]
  bpp = 8 * os.path.getsize(args.output) / (h * w)
  print(f"{args.input} -> {args.output}: {w}x{h} {mode}, {os.path.getsize(args.output)} bytes, "
        f"{bpp:.4f} bpp ({coder.name})")
  if args.verbose:
    print(f"  model {coder.model_id.config} weights {coder.model_id.fingerprint}: "
          f"{coder.description}")
    _print_times({"read image": t_read, **t_load, **coder.timings, "write file": t_write})
    _print_graph_cache(coder)


def cmd_decompress(args: argparse.Namespace) -> None:
  from tfc_swin import bitstream, image_io  # pylint: disable=import-outside-toplevel
  from tfc_swin.isolation import shared_coder  # pylint: disable=import-outside-toplevel
  t0 = time.perf_counter()
  data = _read_file(args.input)
  t_read = time.perf_counter() - t0
  header = bitstream.unpack(data).header  # Cheap checks before loading any model.
  bitstream.check_pixel_limit(header.height, header.width, args.max_pixels)
  limit = decode_time_limit(header.pixels) if args.timeout is None else args.timeout
  # The model runs in a worker process that is killed at the time limit (TFC's range decoder
  # can loop forever on crafted data); this process never imports TensorFlow.
  coder = shared_coder(args.model, args.quality, args.version, header.model, header.config,
                       loader="tfc_swin.cli:decompress_coder", timeout=limit or None)
  coder.start()
  t_load = time.perf_counter() - t0 - t_read
  rgb, header, alpha = coder.decompress_array(data, max_pixels=args.max_pixels)
  t1 = time.perf_counter()
  png = io.BytesIO()  # Encoded in memory: the output file exists for one write only.
  image_io.merge_color_alpha(rgb, header.color_mode, alpha).save(png, format="PNG")
  image_io.write_bytes(args.output, png.getvalue(), force=args.force, protect=(args.input,))
  t_write = time.perf_counter() - t1
  print(f"{args.input} -> {args.output}: {header.width}x{header.height} {header.color_mode}, "
        f"{8 * len(data) / (header.width * header.height):.4f} bpp ({coder.name})")
  if args.verbose:
    _print_times({"read file": t_read, "load model": t_load, **coder.timings,
                  "write image": t_write})


def decompress_coder(model: str | None, quality: int | None, version: str, header_model: str,
                     header_config: str) -> Coder:
  """The coder of ``decompress`` (loaded in its worker process): ``--model``, else the model
  the file's header names."""
  if model is None:  # The file names its model; take it from the zoo if shipped there.
    from tfc_swin.configs import config_names  # pylint: disable=import-outside-toplevel
    model, quality, version = _zoo_spec(header_model, header_config, config_names(),
                                        "SavedModel folder")
  return _coder(argparse.Namespace(model=model, quality=quality, version=version))[0]


def _zoo_spec(model: str, config: str, configs: list[str], folders: str):
  """Maps a header's model name to (spec, quality, version) for the model loaders: only zoo
  entries and the untrained models of ``configs``, never a path (the header comes from an
  untrusted file). ``folders``: what else ``--model`` takes, for the error."""
  from tfc_swin import zoo  # pylint: disable=import-outside-toplevel
  if model == f"untrained/{config}/seed0" and config in configs:
    return config, None, "latest"
  entry = zoo.parse_entry_name(model)
  if entry is not None:
    name, version, quality = entry
    return name, quality, version
  raise CliError(f"the file was made by model {model!r}, which is not in the zoo; "
                 f"pass --model with that model's {folders}")


def cmd_info(args: argparse.Namespace) -> None:
  from tfc_swin import bitstream  # pylint: disable=import-outside-toplevel
  data = _read_file(args.input)
  stream = bitstream.unpack(data)
  h = stream.header
  print(f"file:           {args.input} ({len(data)} bytes, "
        f"{8 * len(data) / (h.width * h.height):.4f} bpp)")
  print(f"format version: {h.version}")
  print(f"model:          {h.model}")
  print(f"config:         {h.config}")
  print(f"weights:        {h.fingerprint}")
  print(f"image:          {h.width}x{h.height} {h.color_mode}")
  if h.tile_side:
    print(f"tiles:          {h.tile_count} of {h.tile_side}x{h.tile_side} (the last row and "
          "column smaller)")
  checks = h.checksums()
  print(f"index checksum: {', '.join(map(str, checks))}"
        + (" (one per latent slice)" if len(checks) > 1 else "")
        + (f", tile 1 of {h.tile_count}" if h.tile_side else ""))
  print(f"strings:        {len(stream.strings)} ({', '.join(str(len(s)) for s in stream.strings)}"
        f" bytes)" + (f", alpha {len(stream.alpha)} bytes" if h.has_alpha else ""))
  scale = _file_scale(h.config, stream.strings)
  if scale is not None:
    print(f"AICT scale:     {scale}")


def _file_scale(config_name: str, strings: list[bytes]) -> str | None:
  """The scale s an AICT file carries (sec. 3.3), for ``info``; None for other models."""
  from tfc_swin.codecs.scale_adaptive import file_scale  # pylint: disable=import-outside-toplevel
  from tfc_swin.configs import config_names, get_config  # pylint: disable=import-outside-toplevel
  if config_name not in config_names() or get_config(config_name).wrapper is None:
    return None
  try:
    s = file_scale(get_config(config_name).wrapper, strings[0])
  except ValueError as e:
    return f"invalid ({e})"
  return "1 (scale adaptation skipped)" if s == 1.0 else f"{s:.4f} (image coded at that scale)"


def cmd_demo(args: argparse.Namespace) -> None:
  from tfc_swin import zoo  # pylint: disable=import-outside-toplevel
  from tfc_swin import image_io  # pylint: disable=import-outside-toplevel
  from tfc_swin.eval.metrics import psnr  # pylint: disable=import-outside-toplevel
  if args.model is None and not zoo.available_models():
    args.model = "conv-hyperprior-tiny"
    print("NOTE: no trained model is shipped in the zoo yet: using an UNTRAINED tiny model; "
          "expect a poor reconstruction.")
  rgb, _, _ = image_io.read_image(args.input, max_pixels=args.max_pixels)
  coder, t_load = _coder(args)
  coder.compress_array(rgb, max_pixels=args.max_pixels)  # Warm-up (traces the graphs).
  data = coder.compress_array(rgb, max_pixels=args.max_pixels)
  t_enc = coder.timings
  out, _, _ = coder.decompress_array(data, max_pixels=args.max_pixels)
  t_dec = coder.timings
  h, w = rgb.shape[:2]
  print(f"model:   {coder.name} ({coder.description})")
  print(f"image:   {args.input} ({w}x{h})")
  print(f"size:    {len(data)} bytes = {8 * len(data) / (h * w):.4f} bpp")
  print(f"PSNR:    {psnr(rgb, out):.2f} dB")
  print(f"times:   load {sum(t_load.values()):.2f} s, encode {sum(t_enc.values()):.3f} s, "
        f"decode {sum(t_dec.values()):.3f} s")


def _frame_progress(verb: str, total: int | None):
  """A per-frame progress callback printing one line to stderr."""
  def report(stats) -> None:
    of = f"/{total}" if total else ""
    print(f"{verb} frame {stats.index + 1}{of}: {stats.frame_type}, {stats.num_bytes} bytes, "
          f"{stats.seconds:.2f} s", file=sys.stderr, flush=True)
  return report


def _video_coder(spec: str | None, quality: int | None = None, version: str = "latest"):
  """:func:`tfc_swin.api.load_video_coder`, given the zoo options only when set."""
  from tfc_swin.api import load_video_coder  # pylint: disable=import-outside-toplevel
  zoo_options = {"quality": quality} if quality is not None else {}
  if version != "latest":
    zoo_options["version"] = version
  return load_video_coder(spec, **zoo_options)


def cmd_video_compress(args: argparse.Namespace) -> None:
  from tfc_swin import zoo  # pylint: disable=import-outside-toplevel
  from tfc_swin.bitstream import check_pixel_limit  # pylint: disable=import-outside-toplevel
  from tfc_swin.video.coder import DEFAULT_GOP_SIZE  # pylint: disable=import-outside-toplevel
  from tfc_swin.video.frames import open_frames  # pylint: disable=import-outside-toplevel
  if args.model is None and not zoo.default(zoo.VIDEO_MODEL_KIND, missing_ok=True):
    shipped = zoo.available_models(zoo.VIDEO_MODEL_KIND)
    raise CliError("pass --model (the zoo has no default video model): a zoo video model ("
                   + (", ".join(shipped) or "none shipped") + "), an exported video "
                   "SavedModel folder, a video training run folder, or a video config name "
                   "for an untrained model")
  if (args.width or args.height) and not args.input.lower().endswith(".yuv"):
    raise CliError("--width / --height are for raw .yuv input only")
  source = open_frames(args.input, args.width, args.height, args.rate)
  check_pixel_limit(source.height, source.width, args.max_pixels)
  coder = _video_coder(args.model, args.quality, args.version)
  stats = coder.compress(source, args.output, args.gop or DEFAULT_GOP_SIZE, force=args.force,
                         progress=_frame_progress("coded", source.num_frames))
  print(f"{args.input} -> {args.output}: {stats.num_frames} frames of {source.width}x"
        f"{source.height}, {stats.file_bytes} bytes, {stats.bpp:.4f} bpp ({coder.name})")


def cmd_video_decompress(args: argparse.Namespace) -> None:
  from tfc_swin.bitstream import check_pixel_limit  # pylint: disable=import-outside-toplevel
  from tfc_swin.fileio import check_writable  # pylint: disable=import-outside-toplevel
  from tfc_swin.isolation import shared_coder  # pylint: disable=import-outside-toplevel
  from tfc_swin.video import bitstream, frames  # pylint: disable=import-outside-toplevel
  header = bitstream.read_header(args.input)  # Cheap checks before loading any model.
  check_pixel_limit(header.height, header.width, args.max_pixels)
  to_yuv = args.output.lower().endswith(".yuv")
  if not to_yuv and os.path.exists(args.output) and not os.path.isdir(args.output):
    raise CliError(f"{args.output}: exists and is not a folder (PNG frames go to a folder, "
                   "raw 4:2:0 to a .yuv file)")
  first = args.output if to_yuv else os.path.join(args.output, frames.PNG_FRAME_NAME.format(1))
  check_writable(first, args.force, protect=(args.input,))  # Before the model loads.
  limit = decode_time_limit(header.pixels) if args.timeout is None else args.timeout
  # As for images, the model runs in a worker process, killed when a frame takes longer than
  # the limit; frames stream back one at a time. This process never imports TensorFlow.
  coder = shared_coder(args.model, args.quality, args.version, header.model, header.config,
                       loader=VIDEO_DECOMPRESS_LOADER, timeout=limit or None)
  coder.start()
  decoded = coder.decompress_video(args.input, _frame_progress("decoded", header.frame_count),
                                   args.max_pixels)
  with contextlib.closing(decoded):  # Stops the worker if a write fails mid-stream.
    if to_yuv:
      count = frames.write_yuv420(decoded, args.output, args.force, protect=(args.input,))
    else:
      count = frames.write_png_frames(decoded, args.output, force=args.force,
                                      protect=(args.input,))
  print(f"{args.input} -> {args.output}: {count} frames of {header.width}x{header.height} "
        f"({coder.name})")


def video_decompress_coder(model: str | None, quality: int | None, version: str,
                           header_model: str, header_config: str) -> VideoCoder:
  """The coder of ``video decompress`` (loaded in its worker process): ``--model``, else the
  model the file's header names (a zoo model or an untrained video config)."""
  if model is None:
    from tfc_swin.configs import video_config_names  # pylint: disable=import-outside-toplevel
    model, quality, version = _zoo_spec(header_model, header_config, video_config_names(),
                                        "SavedModel folder or training run folder")
  return _video_coder(model, quality, version)


def cmd_video_info(args: argparse.Namespace) -> None:
  from tfc_swin.video import bitstream  # pylint: disable=import-outside-toplevel
  h = bitstream.read_header(args.input)
  sizes: dict[str, list[int]] = {"I": [], "P": []}
  for frame in bitstream.read_frames(args.input):  # Checks every CRC.
    sizes[frame.frame_type].append(frame.num_bytes)
  size, count = os.path.getsize(args.input), len(sizes["I"]) + len(sizes["P"])
  print(f"file:           {args.input} ({size} bytes, "
        f"{8 * size / (h.pixels * max(count, 1)):.4f} bpp)")
  print(f"format version: {bitstream.VERSION}")
  print(f"model:          {h.model}")
  print(f"config:         {h.config}")
  print(f"weights:        {h.fingerprint}")
  print(f"frames:         {count} of {h.width}x{h.height} at {h.frame_rate} fps, GOP {h.gop_size}"
        + ("" if h.frame_count is None else f" (header: {h.frame_count})"))
  for kind, label in (("I", "I frames"), ("P", "P frames")):
    print(f"{label + ':':16s}{len(sizes[kind])}, {sum(sizes[kind])} bytes")


def _print_times(times: dict[str, float]) -> None:
  for k, v in times.items():
    print(f"  {k:14s} {1000 * v:9.1f} ms")


def _print_graph_cache(coder) -> None:
  """How the model's functions got their optimized graphs (tfc_swin.fastload's cache)."""
  report = getattr(coder.model, "graph_cache", None)
  if callable(report):
    for name, status in report().items():
      print(f"  graph cache    {name}: {status or 'off'}")


def _pixel_limit(text: str) -> int | None:
  try:
    value = int(text.replace(",", "").replace("_", ""))
  except ValueError:
    raise argparse.ArgumentTypeError(f"not a pixel count: {text!r}") from None
  if value < 0:
    raise argparse.ArgumentTypeError("the pixel limit cannot be negative")
  return value or None


def _positive_int(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"must be positive, got {value}")
  return value


def _frame_rate(text: str) -> Fraction:
  try:
    rate = Fraction(text)
  except (ValueError, ZeroDivisionError):
    raise argparse.ArgumentTypeError(f"not a frame rate: {text!r} (e.g. 30 or 30000/1001)") \
        from None
  if rate <= 0:
    raise argparse.ArgumentTypeError(f"the frame rate must be positive, got {text}")
  return rate


def _add_zoo_args(p) -> None:
  """``--quality`` and ``--version``: which entry of a zoo model ``--model`` names."""
  p.add_argument("--quality", type=int, help="zoo quality (1 = lowest rate)")
  p.add_argument("--version", default="latest", help="zoo version (default latest)")


def _add_video_parser(sub, max_pixels: int) -> None:
  """``tfc-swin video compress | decompress | info``."""
  video = sub.add_parser("video", help="P-frame video coding (.tfsv files)").add_subparsers(
      dest="video_command", required=True)
  limit_help = (f"refuse frames of more than N pixels before any model work (default "
                f"{max_pixels:,}; 0 = no limit)")
  p = video.add_parser("compress", help="frames -> .tfsv file")
  p.add_argument("input", help="folder of frames, video file (ffmpeg) or raw .yuv (4:2:0)")
  p.add_argument("output", help="the .tfsv file to write")
  p.add_argument("--model", help="zoo video model name, exported video SavedModel folder, "
                 "video training run folder, or video config name (UNTRAINED weights, for "
                 "tests); default: the zoo's video default (video_default in zoo.json)")
  _add_zoo_args(p)
  p.add_argument("--gop", type=_positive_int, metavar="N", help="frames per GOP: an I frame "
                 "every N frames (default: tfc_swin.video.coder.DEFAULT_GOP_SIZE, 12 as in "
                 "the paper's evaluation)")
  p.add_argument("--width", type=_positive_int, metavar="W", help="frame width of raw .yuv")
  p.add_argument("--height", type=_positive_int, metavar="H", help="frame height of raw .yuv")
  p.add_argument("--rate", type=_frame_rate, metavar="R", help="frame rate, e.g. 30000/1001 "
                 "(default: the source's, else 30)")
  p.add_argument("--max-pixels", type=_pixel_limit, default=max_pixels, metavar="N",
                 help=limit_help)
  p.add_argument("--force", action="store_true", help="replace an existing output")
  p.set_defaults(func=cmd_video_compress)
  p = video.add_parser("decompress", help=".tfsv file -> PNG frames or raw .yuv")
  p.add_argument("input", help="the .tfsv file")
  p.add_argument("output", help="a folder (PNG frames f001.png, ...) or a .yuv file (raw 4:2:0)")
  p.add_argument("--model", help="as for compress; default: the model named in the file if it "
                 "is a zoo model or an untrained config")
  _add_zoo_args(p)
  p.add_argument("--max-pixels", type=_pixel_limit, default=max_pixels, metavar="N",
                 help=limit_help)
  p.add_argument("--timeout", type=float, metavar="SECONDS", help="give up when a frame takes "
                 "longer than this to decode: the model runs in a worker process, killed then "
                 "(default 60 s + 100 us per pixel; 0 = never)")
  p.add_argument("--force", action="store_true", help="replace existing output files")
  p.set_defaults(func=cmd_video_decompress)
  p = video.add_parser("info", help="print a .tfsv file's header and frame sizes")
  p.add_argument("input")
  p.set_defaults(func=cmd_video_info)


def build_parser() -> argparse.ArgumentParser:
  from tfc_swin.bitstream import DEFAULT_MAX_PIXELS  # pylint: disable=import-outside-toplevel
  parser = argparse.ArgumentParser(prog="tfc-swin", description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)

  def model_args(p, decompress=False):
    p.add_argument("--model", help="zoo model name, SavedModel folder, or config name "
                   "(untrained)" + ("; default: the model named in the file" if decompress
                                    else "; default: the zoo default"))
    _add_zoo_args(p)
    p.add_argument("--max-pixels", type=_pixel_limit, default=DEFAULT_MAX_PIXELS,
                   metavar="N", help="refuse images of more than N pixels before any model "
                   f"work (default {DEFAULT_MAX_PIXELS:,} = 4096x4096; 0 = no limit); "
                   "decoding takes about 1 KB of memory per pixel")

  p = sub.add_parser("models", help="list configs, or shipped zoo models with --zoo")
  p.add_argument("--zoo", action="store_true", help="list the shipped zoo models")
  p.add_argument("--markdown", action="store_true", help="with --zoo: a markdown table")
  p.add_argument("--count", action=argparse.BooleanOptionalAction, default=True,
                 help="build each config to count its trainable parameters")
  p.set_defaults(func=cmd_models)
  for name, func, help_ in (("compress", cmd_compress, "image file -> compressed file"),
                            ("decompress", cmd_decompress, "compressed file -> PNG")):
    p = sub.add_parser(name, help=help_)
    p.add_argument("input")
    p.add_argument("output")
    model_args(p, decompress=name == "decompress")
    p.add_argument("--force", action="store_true", help="replace an existing output")
    p.add_argument("-v", "--verbose", action="store_true", help="print per-stage times")
    if name == "decompress":
      p.add_argument("--timeout", type=float, metavar="SECONDS",
                     help="give up decoding after this long: the model runs in a worker "
                     "process, killed then (default 60 s + 100 us per pixel; 0 = never)")
    p.set_defaults(func=func)
  p = sub.add_parser("info", help="print a compressed file's header")
  p.add_argument("input")
  p.set_defaults(func=cmd_info)
  p = sub.add_parser("demo", help="compress + decompress the bundled sample image")
  p.add_argument("--input", default=SAMPLE_IMAGE)
  model_args(p)
  p.set_defaults(func=cmd_demo)
  _add_video_parser(sub, DEFAULT_MAX_PIXELS)
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the command line on ``argv`` and returns the exit status. Run as the program (``argv``
  None, from the ``tfc-swin`` script or ``python -m tfc_swin``), it ends the process itself once
  done, after the atexit handlers (:func:`_exit`)."""
  code = _run(argv)
  if argv is None and os.path.basename(sys.argv[0]) in ("tfc-swin", "__main__.py"):
    _exit(code)
  return code


def _run(argv: list[str] | None) -> int:
  args = build_parser().parse_args(argv)
  try:
    args.func(args)
  except KeyboardInterrupt:
    print("tfc-swin: interrupted", file=sys.stderr)
    return 130
  except Exception as e:  # pylint: disable=broad-except
    if not isinstance(e, _user_errors()):
      raise  # A bug: keep the traceback.
    message = " ".join(str(e).split()) or type(e).__name__
    print(f"tfc-swin: error: {message}", file=sys.stderr)
    return 1
  return 0


def _exit(code: int) -> None:
  """Ends a process that has loaded TensorFlow without the interpreter's teardown (freeing
  every module and TensorFlow's runtime, 0.1-0.3 s): the output is written and closed, stdout
  and stderr are flushed and the atexit handlers run (they stop a decompress worker) first."""
  if "tensorflow" not in sys.modules:
    return  # Nothing slow to tear down; sys.exit as usual.
  import atexit  # pylint: disable=import-outside-toplevel
  atexit._run_exitfuncs()  # pylint: disable=protected-access
  try:
    sys.stdout.flush()
    sys.stderr.flush()
  except (OSError, ValueError):
    return  # Let the usual exit report it.
  os._exit(code)  # pylint: disable=protected-access


if __name__ == "__main__":
  sys.exit(main())
