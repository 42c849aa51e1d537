"""A fast start for one-shot coding (``tfc-swin compress`` / ``decompress``): TensorFlow's runtime
without its Python API, and a SavedModel's coding functions without ``tf.saved_model.load``.

Where a fresh ``tfc-swin compress`` of a Kodak image went with the default model (CPU seconds,
2-core machine shared with trainings; docs/complexity.md and results/benchmark/cli_latency.md):
``import tensorflow`` 2.2-2.7 s (its whole Python API: Keras, tf.data, distribution, TPU,
feature columns...) plus ``import tensorflow_compression`` 0.6 s (TensorFlow Probability), and
``tf.saved_model.load`` 2.0-2.5 s (it rebuilds all 16 functions of the SavedModel, 10k nodes, as
Python graphs, and retraces ``compress`` on the first call). Coding needs none of this:

* :func:`import_runtime` imports the eager runtime modules only (``tensorflow.python.eager``,
  ``framework``, a few generated op modules), with TF 2 behaviour on, as ``tensorflow/__init__``
  sets it: ~0.5 s. The packages ``tensorflow`` and ``tensorflow.python`` are then placeholders
  whose ``__init__`` has not run; the first attribute access (``tf.constant``, ``import
  tensorflow_compression``, Keras...) runs both, so code that needs the API still gets it, at
  the usual price. :func:`load_tfc_ops` registers TFC's range-coding ops (the kernels the
  SavedModels use) without importing its Python package.
* :class:`SavedModelFunctions` registers a function of the SavedModel (e.g. ``compress``) as
  its stored FunctionDefs with the runtime, restores the variables that function captures
  (one ``RestoreV2``), and calls it by name, as a loaded ``ConcreteFunction`` does: ~0.1 s.
* The graph cache (:func:`enable_graph_cache`, on in the command line): the first call of a
  function spends ~1.3 s (CPU) in TensorFlow's graph optimization (grappler) of the 4,400-node
  coding graphs. TensorFlow 2.14 can read an optimized function graph from a file instead
  (``TF_GRAPH_CACHING``, an ``OptimizedFunctionGraph`` proto), but writes one only when the
  optimization took 3 s or more. Here the first run collects the optimized graph (eager graph
  collection) and writes the file itself, in a folder named by a hash of everything the
  optimization depends on (TF/TFC versions, the FunctionDefs, the captured variables' shapes,
  the session config, devices, CPU flags, TF/oneDNN environment variables); later runs point
  ``TF_GRAPH_CACHING`` there for their first call. The graph TensorFlow reads back is the one it
  would have computed (the same nodes in the same order); the oneDNN rewrite and kernel
  creation run after it as usual.

Files are byte-identical: the runtime instantiates the same FunctionDefs with the same graph
optimizations, oneDNN rewrites and kernels. Only grappler passes that cannot change a CPU graph
are switched off (:data:`CPU_NOOP_REWRITES`: layout conversion, which TF does not do on CPU,
GPU memory swapping, loop optimization and implementation selection); the optimized graph of
each zoo model's functions was checked to be identical node for node with and without them
(``experiments/cli_latency.py --check_graphs``, results/benchmark/cli_latency.md).

``TFC_SWIN_FAST_LOAD=0`` (:data:`FAST_LOAD_ENV`) turns all of it off (then the command line
imports TensorFlow and loads models with ``tf.saved_model.load``, as before);
``TFC_SWIN_GRAPH_CACHE`` (:data:`GRAPH_CACHE_ENV`) sets the cache folder (default
``$XDG_CACHE_HOME/tfc_swin/graphs``, i.e. ``~/.cache/tfc_swin/graphs``; ``0`` turns it off).
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import itertools
import os
import site
import sys
import tempfile
import threading
import time
import weakref
from typing import Any

#: Set to 0 to import TensorFlow and load SavedModels the usual way.
FAST_LOAD_ENV = "TFC_SWIN_FAST_LOAD"
#: The graph cache folder (:func:`enable_graph_cache`); 0 turns the cache off.
GRAPH_CACHE_ENV = "TFC_SWIN_GRAPH_CACHE"
#: TensorFlow's own switch of its optimized-graph file cache (a folder).
TF_GRAPH_CACHING_ENV = "TF_GRAPH_CACHING"
_OFF = ("0", "false", "no", "off")
_PLACEHOLDERS = ("tensorflow", "tensorflow.python")
_state = {"lean": False, "completing": False, "importing": False}
_lock = threading.RLock()


class UnsupportedSavedModelError(ValueError):
  """A SavedModel whose functions :class:`SavedModelFunctions` cannot run (use
  ``tf.saved_model.load``)."""


def enabled() -> bool:
  """Whether the fast paths are on (:data:`FAST_LOAD_ENV` is not 0)."""
  return os.environ.get(FAST_LOAD_ENV, "1").strip().lower() not in _OFF


def graph_cache_folder() -> str | None:
  """Where optimized graphs are cached: :data:`GRAPH_CACHE_ENV`, else
  ``$XDG_CACHE_HOME/tfc_swin/graphs`` (``~/.cache/...``); None when turned off."""
  configured = os.environ.get(GRAPH_CACHE_ENV)
  if configured is not None:
    return None if configured.strip().lower() in _OFF + ("",) else configured
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "tfc_swin", "graphs")


def enable_graph_cache(folder: str | None = None) -> str | None:
  """Turns the optimized-graph cache on for the functions of :class:`SavedModelFunctions` in this
  process (``folder``: default :func:`graph_cache_folder`); returns the folder (None: off).

  For one-shot processes such as the command line: the first call of a function sets
  ``TF_GRAPH_CACHING`` in the process environment while it runs, which TensorFlow reads when it
  instantiates any function meanwhile.
  """
  folder = folder if folder is not None else graph_cache_folder()
  _state["graph_cache"] = folder if folder and enabled() else None
  return _state["graph_cache"]


def is_lean() -> bool:
  """Whether TensorFlow's runtime was imported without its Python API (not completed yet)."""
  return _state["lean"]


# -- TensorFlow's runtime without its Python API ---------------------------------------------------
def _plugin_dirs() -> list[str]:
  """The ``tensorflow-plugins`` folders ``tensorflow/__init__`` would load (pluggable devices
  and their kernels)."""
  dirs = [p for p in sys.path if "site-packages" in p]
  if site.ENABLE_USER_SITE and site.USER_SITE:
    dirs.append(site.USER_SITE)
  if hasattr(site, "getsitepackages"):
    dirs += site.getsitepackages()
  return sorted({os.path.join(d, "tensorflow-plugins") for d in dirs
                 if os.path.isdir(os.path.join(d, "tensorflow-plugins"))})


def import_runtime() -> bool:
  """Makes TensorFlow's eager runtime importable as cheaply as possible; True if its Python API
  was left out (lean), False if TensorFlow is (or was now) imported the usual way.

  Lean only in a process that has not imported TensorFlow, with :func:`enabled`, and without
  TensorFlow plugins (pluggable devices could change kernels). Idempotent.
  """
  with _lock:
    if _state["lean"]:
      return True
    if ("tensorflow" in sys.modules or not enabled() or _plugin_dirs()
        or os.environ.get("TF_PLUGGABLE_DEVICE_LIBRARY_PATH")):
      importlib.import_module("tensorflow")
      return False
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
      raise ImportError("TensorFlow is not installed")
    for name in _PLACEHOLDERS:
      _install_placeholder(name)
    _state["lean"] = _state["importing"] = True
    try:
      # As tensorflow/__init__.py does first, so that the modules below see TF 2 behaviour.
      os.environ["TF2_BEHAVIOR"] = "1"
      importlib.import_module("tensorflow.python.tf2").enable()
      for module in ("tensorflow.python.eager.context", "tensorflow.python.eager.execute",
                     "tensorflow.python.framework.constant_op",
                     "tensorflow.python.framework.errors",
                     "tensorflow.python.framework.load_library",
                     "tensorflow.python.ops.gen_io_ops",
                     "tensorflow.python.ops.gen_resource_variable_ops"):
        importlib.import_module(module)
      # First-party kernel libraries, loaded by tensorflow/__init__.py too (same path string:
      # TF caches loaded libraries by it).
      kernels = os.path.join(os.path.dirname(spec.origin), "core", "kernels")
      if os.path.isdir(kernels):
        sys.modules["tensorflow.python.framework.load_library"].load_library(kernels)
    except Exception:  # pylint: disable=broad-except
      _state["importing"] = False
      complete_import()  # The usual import (which raises if TensorFlow is broken).
      return False
    finally:
      _state["importing"] = False
    return True


def _install_placeholder(name: str) -> None:
  """``sys.modules[name]``: the package, its ``__init__`` not run, that runs it (see
  :func:`complete_import`) when code other than the import system asks it for an attribute."""
  spec = importlib.util.find_spec(name)
  module = importlib.util.module_from_spec(spec)

  def __getattr__(attr: str) -> Any:  # pylint: disable=invalid-name
    caller = sys._getframe(1).f_globals.get("__name__", "")  # pylint: disable=protected-access
    if (_state["completing"] or _state["importing"]
        or (caller.startswith("importlib") and importlib.util.find_spec(f"{name}.{attr}"))):
      # The import system asks before importing a submodule (``from tensorflow.python import
      # tf2``): let it import just that. While import_runtime imports the runtime modules, a
      # name the package lacks stays missing (pywrap_tensorflow tries an optional module).
      raise AttributeError(f"module {name!r} has no attribute {attr!r}")
    complete_import()
    return getattr(sys.modules[name], attr)

  module.__getattr__ = __getattr__
  sys.modules[name] = module
  parent, _, child = name.rpartition(".")
  if parent:
    setattr(sys.modules[parent], child, module)


def complete_import() -> None:
  """Runs the ``__init__`` of the placeholder packages (``tensorflow.python``, then
  ``tensorflow``, the order of a normal import), after which TensorFlow is imported as usual."""
  with _lock:
    if not _state["lean"] or _state["completing"]:
      return
    _state["completing"] = True
    try:
      for name in _PLACEHOLDERS[::-1]:
        module = sys.modules[name]
        module.__dict__.pop("__getattr__", None)
        module.__spec__.loader.exec_module(module)
      _state["lean"] = False
    finally:
      _state["completing"] = False


def load_tfc_ops() -> None:
  """Registers TensorFlow Compression's ops (range coding) with the runtime, without importing
  its Python package (and TensorFlow Probability with it)."""
  with _lock:
    if "tensorflow_compression" in sys.modules or _state.get("tfc_ops"):
      return
    spec = importlib.util.find_spec("tensorflow_compression")
    if spec is None or not spec.submodule_search_locations:
      raise ImportError("tensorflow-compression is not installed")
    # The path string of tensorflow_compression/python/ops/gen_ops.py: TF caches libraries by
    # it, and a second load under another name would give TFC's own import no ops.
    path = os.path.join(spec.submodule_search_locations[0], "python", "ops",
                        "../../cc/libtensorflow_compression.so")
    from tensorflow.python.framework import load_library  # pylint: disable=C0415
    load_library.load_op_library(path)
    _state["tfc_ops"] = True


# -- a SavedModel's functions -------------------------------------------------------------------
#: Grappler passes that cannot change a CPU graph, switched off for the functions run here (on
#: machines without GPUs): layout conversion (TF does none on CPU unless asked), memory
#: optimization (GPU swapping; recomputation of gradient scopes), loop optimization (while loops;
#: the coding functions have none) and implementation selection (cuDNN RNNs).
CPU_NOOP_REWRITES = {"layout_optimizer": "OFF", "memory_optimization": "NO_MEM_OPT",
                     "loop_optimization": "OFF", "implementation_selector": "OFF"}
_names = itertools.count()
#: First calls shorter than this are not worth a cache file (small models: no files from tests).
MIN_CACHED_CALL_SECONDS = 0.25


def _function_refs(fdef) -> list[str]:
  """Names of the functions a FunctionDef's nodes call (``f``, branches, bodies...)."""
  names = []
  for node in fdef.node_def:
    for value in node.attr.values():
      kind = value.WhichOneof("value")
      if kind == "func":
        names.append(value.func.name)
      elif kind == "list":
        names += [f.name for f in value.list.func]
  return names


def _rename_refs(fdef, renamed: dict[str, str]) -> None:
  for node in fdef.node_def:
    for value in node.attr.values():
      kind = value.WhichOneof("value")
      if kind == "func" and value.func.name in renamed:
        value.func.name = renamed[value.func.name]
      elif kind == "list":
        for f in value.list.func:
          if f.name in renamed:
            f.name = renamed[f.name]


def _specs(structure, what: str) -> list[tuple[str | None, Any]]:
  """[(key or None, TensorSpecProto)] of a StructuredValue that is a dict of tensor specs (its
  flattening order: sorted keys) or a tuple/list of them."""
  kind = structure.WhichOneof("kind")
  if kind == "dict_value":
    fields = structure.dict_value.fields
    items = [(k, fields[k]) for k in sorted(fields)]
  elif kind in ("tuple_value", "list_value"):
    items = [(None, v) for v in getattr(structure, kind).values]
  else:
    raise UnsupportedSavedModelError(f"{what} is a {kind}, not a dict or tuple of tensors")
  if any(v.WhichOneof("kind") != "tensor_spec_value" for _, v in items):
    raise UnsupportedSavedModelError(f"{what} holds other values than tensors")
  return [(k, v.tensor_spec_value) for k, v in items]


class _Function:
  """One concrete function of a SavedModel, registered under a new name, with the handles of
  the variables it captures."""

  def __init__(self, name: str, fdef_name: str, inputs: list[Any], outputs: list[tuple[str, Any]],
               handles: list[Any], cache_key: bytes = b"", fdef: Any = None,
               library: list[str] | None = None):
    self.name, self.fdef_name = name, fdef_name
    self.inputs, self.outputs, self.handles = inputs, outputs, handles
    self._attrs: dict[bytes, tuple] = {}
    self._config_ids: dict[tuple, tuple] = {}
    self._cache_key, self._fdef, self._library = cache_key, fdef, library or []
    self._first_call = threading.Lock()
    self._called = False
    #: Of the first call: "read" (an optimized graph was in the cache; TensorFlow optimizes
    #: anew if it cannot read it), "written" (optimized, then cached), "" (no cache). The cache
    #: file is named as TensorFlow 2.14 looks it up outside distributed jobs (TF_JOB_NAME unset).
    self.graph_cache = ""

  def _call_attrs(self, ctx) -> tuple:
    """The call's attributes: the context's (config, executor), as a ConcreteFunction call
    passes them, with :data:`CPU_NOOP_REWRITES` on CPU-only machines."""
    options = ctx.function_call_options
    base = options.config_proto_serialized
    attrs = self._attrs.get(base)
    if attrs is None:
      from tensorflow.core.protobuf import config_pb2, rewriter_config_pb2  # pylint: disable=C0415
      config = config_pb2.ConfigProto.FromString(base)
      if not ctx.list_logical_devices("GPU"):
        rewrites = config.graph_options.rewrite_options
        for field, value in CPU_NOOP_REWRITES.items():
          enum = rewriter_config_pb2.RewriterConfig.DESCRIPTOR.fields_by_name[field].enum_type
          setattr(rewrites, field, enum.values_by_name[value].number)
      attrs = ("executor_type", options.executor_type or "",
               "config_proto", config.SerializeToString())
      self._attrs[base] = attrs
      self._config_ids[attrs] = (options.executor_type or "",
                                 config.SerializeToString(deterministic=True))
    return attrs

  def __call__(self, *args) -> dict[str, Any]:
    from tensorflow.python.eager import context, execute  # pylint: disable=C0415
    from tensorflow.python.framework import constant_op, ops  # pylint: disable=C0415
    if len(args) != len(self.inputs):
      raise TypeError(f"{self.name} takes {len(self.inputs)} arguments, got {len(args)}")
    tensors = []
    for arg, spec in zip(args, self.inputs):
      tensor = arg if isinstance(arg, ops.EagerTensor) else constant_op.constant(arg, spec.dtype)
      if tensor.dtype != spec.dtype:
        raise TypeError(f"{self.name}: expected {spec.dtype.name}, got {tensor.dtype.name}")
      tensors.append(tensor)
    ctx = context.context()
    attrs = self._call_attrs(ctx)

    def run():
      return execute.execute(self.fdef_name, num_outputs=len(self.outputs),
                             inputs=tensors + self.handles, attrs=attrs, ctx=ctx)

    if self._called:
      outputs = run()
    else:
      with self._first_call:  # Instantiation (graph optimization) happens in the first call.
        outputs = self._first(run, ctx, attrs) if _state.get("graph_cache") else run()
        self._called = True
    return {key: out for (key, _), out in zip(self.outputs, outputs)}

  # -- the optimized-graph cache (module docstring) -----------------------------------------------
  def _cache_file(self, ctx, attrs: tuple) -> tuple[str, str]:
    """(the cache folder of this function in this runtime, the file TensorFlow reads there)."""
    from tensorflow.python.framework import versions  # pylint: disable=C0415
    key = hashlib.sha256(b"tfc_swin optimized graph cache 1\0")
    devices = [(d.name, d.device_type) for d in ctx.list_logical_devices()]
    for part in (versions.__version__, versions.__git_version__, _tfc_library_id(),
                 repr(self._config_ids[attrs]), repr(devices), _cpu_id(),
                 repr(sorted(_optimization_env().items()))):
      key.update(str(part).encode() + b"\0")
    key.update(self._cache_key)
    folder = os.path.join(_state["graph_cache"], key.hexdigest()[:40])
    # TensorFlow 2.14's file name: <job>_<task>_<function name without its last "_..."
    # part>_<FunctionDef nodes> (job "" and task -1 outside distributed jobs).
    plain = self.fdef_name.rsplit("_", 1)[0]
    return folder, os.path.join(folder, f"_-1_{plain}_{len(self._fdef.node_def)}")

  def _first(self, run, ctx, attrs: tuple):
    """The first call, reading its optimized graph from the cache, else writing it there."""
    try:
      folder, path = self._cache_file(ctx, attrs)
    except Exception:  # pylint: disable=broad-except
      return run()  # No cache, e.g. a CPU without /proc/cpuinfo flags.
    if os.path.isfile(path):
      previous = os.environ.get(TF_GRAPH_CACHING_ENV)
      os.environ[TF_GRAPH_CACHING_ENV] = folder
      try:
        self.graph_cache = "read"
        return run()
      finally:
        if previous is None:
          os.environ.pop(TF_GRAPH_CACHING_ENV, None)
        else:
          os.environ[TF_GRAPH_CACHING_ENV] = previous
    ctx.export_run_metadata()  # Clears what was collected before (nothing, normally).
    ctx.enable_graph_collection()
    start = time.perf_counter()
    try:
      outputs = run()
    finally:
      metadata = ctx.export_run_metadata()  # (Empty once collection is off.)
      ctx.disable_graph_collection()
    seconds = time.perf_counter() - start
    if seconds >= MIN_CACHED_CALL_SECONDS:
      try:
        self._write_cache(folder, path, metadata, seconds, ctx)
      except Exception:  # pylint: disable=broad-except
        pass  # A cache we cannot write (read-only home...) only costs time.
    return outputs

  def _write_cache(self, folder: str, path: str, metadata, seconds: float, ctx) -> None:
    """Writes the collected optimized graph as TensorFlow's OptimizedFunctionGraph proto."""
    from tensorflow.core.framework import optimized_function_graph_pb2  # pylint: disable=C0415
    graphs = [g.post_optimization_graph for g in metadata.function_graphs]
    if len(graphs) != 1 or not graphs[0].node:
      return  # Not exactly our function's instantiation: do not guess.
    cached = optimized_function_graph_pb2.OptimizedFunctionGraph(
        name=self.fdef_name, ret_types=[a.type for a in self._fdef.signature.output_arg],
        num_return_nodes=len(self._fdef.signature.output_arg),
        source=optimized_function_graph_pb2.OptimizedFunctionGraph.JIT,
        optimization_time_usecs=int(seconds * 1e6))
    cached.function_graph.CopyFrom(graphs[0])
    # As TensorFlow caches it: the library the function reaches, control outputs by node name.
    del cached.function_graph.library.function[:]
    cached.function_graph.library.function.extend(
        ctx.get_function_def(name) for name in sorted(self._library))
    for ret, node in self._fdef.control_ret.items():
      cached.node_name_to_control_ret[node] = ret
    os.makedirs(folder, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-", delete=False) as f:
      f.write(cached.SerializeToString())
    os.replace(f.name, path)
    self.graph_cache = "written"


class _Spec:
  def __init__(self, proto):
    from tensorflow.python.framework import dtypes  # pylint: disable=C0415
    self.dtype = dtypes.as_dtype(proto.dtype)
    self.shape = (None if proto.shape.unknown_rank
                  else [d.size if d.size >= 0 else None for d in proto.shape.dim])


def _tfc_library_id() -> str:
  """TensorFlow Compression's op library (path, size, modification time: a new install
  changes it)."""
  spec = importlib.util.find_spec("tensorflow_compression")
  library = os.path.join(spec.submodule_search_locations[0], "cc", "libtensorflow_compression.so")
  info = os.stat(library)
  return f"{library} {info.st_size} {info.st_mtime_ns}"


def _cpu_id() -> str:
  """The CPU model and instruction-set flags (grappler's and oneDNN's choices depend on them)."""
  with open("/proc/cpuinfo") as f:
    fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines()
                  if ":" in line)
  fields = {k.strip(): v.strip() for k, v in fields.items()}
  if not fields.get("flags"):
    raise OSError("no CPU flags in /proc/cpuinfo")
  return f"{fields.get('model name')} | {fields['flags']}"


def _optimization_env() -> dict[str, str]:
  """Environment variables TensorFlow or oneDNN may read (logging ones and the caches' own
  switches left out)."""
  prefixes = ("TF_", "ONEDNN_", "DNNL_", "MKL", "OMP_", "KMP_")
  return {k: v for k, v in os.environ.items() if k.startswith(prefixes)
          and not k.startswith("TF_CPP_") and k != TF_GRAPH_CACHING_ENV}


def _destroy(handles: list[Any]) -> None:
  try:
    from tensorflow.python.ops import gen_resource_variable_ops  # pylint: disable=C0415
    for handle in handles:
      gen_resource_variable_ops.destroy_resource_op(handle, ignore_lookup_error=True)
  except Exception:  # pylint: disable=broad-except
    pass  # At interpreter exit.


class SavedModelFunctions:
  """The functions of a SavedModel's root object (e.g. ``compress``, ``decompress``) as
  attributes, each loaded on first use: its FunctionDefs registered with the runtime, the
  variables it captures restored from the checkpoint. Calls take and return what the
  SavedModel's function does (a dict of EagerTensors).

  Functions with one concrete function whose outputs are a dict (or tuple) of tensors and whose
  captures are variables; anything else raises :class:`UnsupportedSavedModelError`.
  """

  def __init__(self, path: str):
    import_runtime()
    from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=C0415
    from tensorflow.python.eager import context  # pylint: disable=C0415
    self.path = path
    pb = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(pb):
      raise UnsupportedSavedModelError(f"{path}: no saved_model.pb")
    with open(pb, "rb") as f:
      saved = saved_model_pb2.SavedModel.FromString(f.read())
    if len(saved.meta_graphs) != 1:
      raise UnsupportedSavedModelError(f"{path}: {len(saved.meta_graphs)} meta graphs")
    meta = saved.meta_graphs[0]
    self._objects = meta.object_graph_def
    self._library = {f.signature.name: f for f in meta.graph_def.library.function}
    self._roots = {c.local_name: c.node_id for c in self._objects.nodes[0].children}
    self.function_names = sorted(
        n for n, i in self._roots.items()
        if self._objects.nodes[i].WhichOneof("kind") == "function")
    # Checked now, so that a SavedModel this class cannot run is known before any call.
    self._plans = {name: self._plan(name) for name in self.function_names}
    self._functions: dict[str, _Function] = {}
    self._variables: dict[int, Any] = {}  # object node id -> resource handle
    self._checkpoint_nodes: dict[int, int] | None = None
    self._lock = threading.Lock()
    self._handles: list[Any] = []
    weakref.finalize(self, _destroy, self._handles)
    context.ensure_initialized()

  def __getattr__(self, name: str) -> _Function:
    if name.startswith("_") or name not in self.__dict__.get("function_names", ()):
      raise AttributeError(name)
    return self.function(name)

  @property
  def num_strings(self) -> int | None:
    """Length of ``compress``'s ``strings`` output if static (what a file of the model holds)."""
    if "compress" not in self._plans:
      return None
    spec = dict(self._plans["compress"]["outputs"]).get("strings")
    shape = spec.shape if spec is not None else None
    return shape[0] if shape and len(shape) == 1 and shape[0] is not None else None

  def _plan(self, name: str) -> dict[str, Any]:
    """What running root function ``name`` takes: its FunctionDef's name, input and output
    specs and captured variables (UnsupportedSavedModelError if it is not of the kind run
    here)."""
    function = self._objects.nodes[self._roots[name]].function
    if len(function.concrete_functions) != 1:
      raise UnsupportedSavedModelError(f"{self.path}: {name} has "
                                       f"{len(function.concrete_functions)} concrete functions")
    fname = function.concrete_functions[0]
    saved = self._objects.concrete_functions[fname]
    if fname not in self._library:
      raise UnsupportedSavedModelError(f"{self.path}: no function {fname}")
    signature = saved.canonicalized_input_signature
    if (signature.WhichOneof("kind") != "tuple_value"
        or len(signature.tuple_value.values) != 2
        or signature.tuple_value.values[1].dict_value.fields):
      raise UnsupportedSavedModelError(f"{self.path}: {name} takes keyword arguments")
    args = [_Spec(s) for _, s in _specs(signature.tuple_value.values[0], f"{name}'s input")]
    outputs = [(k, _Spec(s)) for k, s in _specs(saved.output_signature, f"{name}'s output")]
    fdef = self._library[fname]
    if len(fdef.signature.input_arg) != len(args) + len(saved.bound_inputs):
      raise UnsupportedSavedModelError(f"{self.path}: {name}'s inputs do not match its captures")
    if ([a.type for a in fdef.signature.output_arg]
        != [s.dtype.as_datatype_enum for _, s in outputs]):
      raise UnsupportedSavedModelError(f"{self.path}: {name}'s outputs do not match its "
                                       "output signature")
    for i in saved.bound_inputs:
      if self._objects.nodes[i].WhichOneof("kind") != "variable":
        raise UnsupportedSavedModelError(f"{self.path}: {name} captures a "
                                         f"{self._objects.nodes[i].WhichOneof('kind')}")
    return {"fdef": fname, "args": args, "outputs": outputs,
            "captures": list(saved.bound_inputs)}

  def graph_cache(self) -> dict[str, str]:
    """How the first call of each function called so far got its optimized graph: "read" from
    the graph cache, "written" to it, or "" (cache off)."""
    return {name: f.graph_cache for name, f in self._functions.items()}

  def function(self, name: str) -> _Function:
    """Root function ``name``, loaded on first use."""
    with self._lock:
      if name not in self._functions:
        self._functions[name] = self._load(name)
      return self._functions[name]

  def _load(self, name: str) -> _Function:
    from tensorflow.python.eager import context  # pylint: disable=C0415
    plan = self._plans[name]
    fname = plan["fdef"]
    # The function and those it calls, under new names (another SavedModel loaded in this
    # process may use the same ones for other functions), callees first.
    order, pending = [], [fname]
    while pending:
      current = pending.pop()
      if current in order or current not in self._library:
        continue
      order.append(current)
      pending += _function_refs(self._library[current])
    suffix = f"_tfcswin{next(_names)}"
    renamed = {n: n + suffix for n in order}
    ctx = context.context()
    for n in reversed(order):
      copy = type(self._library[n])()
      copy.CopyFrom(self._library[n])
      copy.signature.name = renamed[n]
      _rename_refs(copy, renamed)
      ctx.add_function_def(copy)
    handles = self._restore(plan["captures"])
    # What the optimized graph depends on besides the runtime: the FunctionDefs (as stored) and
    # the captured variables' dtypes and shapes.
    key = hashlib.sha256()
    for n in order:
      key.update(self._library[n].SerializeToString(deterministic=True))
    for i in plan["captures"]:
      key.update(self._objects.nodes[i].variable.SerializeToString(deterministic=True))
    return _Function(name, renamed[fname], plan["args"], plan["outputs"], handles,
                     key.digest(), ctx.get_function_def(renamed[fname]),
                     [renamed[n] for n in order[1:]])

  def _restore(self, node_ids: list[int]) -> list[Any]:
    """Resource handles of these variables (object graph node ids), restored on first use."""
    from tensorflow.python.eager import context  # pylint: disable=C0415
    from tensorflow.python.framework import dtypes, tensor_shape  # pylint: disable=C0415
    from tensorflow.python.ops import gen_io_ops, gen_resource_variable_ops  # pylint: disable=C0415
    missing = [i for i in dict.fromkeys(node_ids) if i not in self._variables]
    if missing:
      keys = self._checkpoint_keys(missing)
      variables = [self._objects.nodes[i].variable for i in missing]
      prefix = os.path.join(self.path, "variables", "variables")
      values = gen_io_ops.restore_v2(prefix, keys, [""] * len(keys),
                                     [dtypes.as_dtype(v.dtype) for v in variables])
      for i, v, value in zip(missing, variables, values):
        shape = tensor_shape.TensorShape(v.shape)  # May have unknown sizes (TFC's CDF tables).
        if not shape.is_compatible_with(value.shape):
          raise UnsupportedSavedModelError(f"{self.path}: variable {v.name} has shape "
                                           f"{value.shape} in the checkpoint, {shape} in the "
                                           "object graph")
        # As tf.saved_model.load makes it (an eager UninitializedVariable, then restored): an
        # anonymous handle of the object graph's dtype and shape, assigned the restored value.
        handle = gen_resource_variable_ops.var_handle_op(
            dtype=value.dtype, shape=shape, shared_name=context.anonymous_name())
        gen_resource_variable_ops.assign_variable_op(handle, value)
        self._variables[i] = handle
        self._handles.append(handle)
    return [self._variables[i] for i in node_ids]

  def _checkpoint_keys(self, node_ids: list[int]) -> list[str]:
    """The checkpoint keys of variables (object graph node ids), from the checkpoint's own
    object graph, matched to the SavedModel's by child names from the root."""
    if self._checkpoint_nodes is None:
      from tensorflow.core.protobuf import trackable_object_graph_pb2  # pylint: disable=C0415
      from tensorflow.python.training import py_checkpoint_reader  # pylint: disable=C0415
      reader = py_checkpoint_reader.NewCheckpointReader(
          os.path.join(self.path, "variables", "variables"))
      graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
          reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
      self._checkpoint_graph = graph
      mapping, pending = {0: 0}, [(0, 0)]
      while pending:
        saved_id, checkpoint_id = pending.pop()
        children = {c.local_name: c.node_id for c in graph.nodes[checkpoint_id].children}
        for child in self._objects.nodes[saved_id].children:
          if child.local_name in children and child.node_id not in mapping:
            mapping[child.node_id] = children[child.local_name]
            pending.append((child.node_id, children[child.local_name]))
      self._checkpoint_nodes = mapping
    keys = []
    for i in node_ids:
      attributes = ([a.checkpoint_key for a in
                     self._checkpoint_graph.nodes[self._checkpoint_nodes[i]].attributes
                     if a.name == "VARIABLE_VALUE"] if i in self._checkpoint_nodes else [])
      if len(attributes) != 1:
        raise UnsupportedSavedModelError(f"{self.path}: variable "
                                         f"{self._objects.nodes[i].variable.name} is not in the "
                                         "checkpoint")
      keys.append(attributes[0])
    return keys
