"""Package structure and packaging: no import cycles, binaries that use the installed
package, and a non-editable install that ships the demo image and the zoo."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from helpers import REPO

PACKAGE = REPO / "tfc_swin"


def module_imports() -> dict[str, set[str]]:
  """tfc_swin module -> the tfc_swin modules it imports at module level."""
  paths = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
           for p in PACKAGE.rglob("*.py")}
  graph = {}
  for name, path in paths.items():
    deps = set()
    for node in ast.parse(path.read_text()).body:
      if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tfc_swin"):
        deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in paths
                 else node.module for a in node.names}
      elif isinstance(node, ast.Import):
        deps |= {a.name for a in node.names if a.name.startswith("tfc_swin")}
    graph[name] = {d for d in deps if d in paths and d != name}
  return graph


def test_no_import_cycles():
  graph, done, cycles = module_imports(), set(), []

  def visit(name: str, path: list[str]) -> None:
    for dep in sorted(graph[name]):
      if dep in path:
        cycles.append(path[path.index(dep):] + [dep])
      elif dep not in done:
        visit(dep, path + [dep])
    done.add(name)

  for name in sorted(graph):
    if name not in done:
      visit(name, [name])
  assert not cycles, [" -> ".join(c) for c in cycles]


def test_eval_protocol_and_tables_depend_on_no_implementation():
  graph = module_imports()
  assert graph["tfc_swin.eval.protocol"] == graph["tfc_swin.eval.tables"] == set()


def test_experiments_use_the_installed_package():
  for script in (REPO / "experiments").glob("*.py"):
    assert "sys.path" not in script.read_text(), script.name


@pytest.mark.slow
def test_non_editable_install_ships_sample_image_and_zoo(tmp_path):
  source = tmp_path / "src"
  shutil.copytree(PACKAGE, source / "tfc_swin", ignore=shutil.ignore_patterns("__pycache__"))
  for name in ("setup.py", "setup.cfg", "pyproject.toml", "README.md"):
    shutil.copy(REPO / name, source / name)
  (source / "zoo").mkdir()  # a small zoo: the real one is 100 MB
  (source / "zoo" / "zoo.json").write_text('{"default": {"model": "m", "quality": 1}}\n')
  (source / "zoo" / "m" / "1" / "q1").mkdir(parents=True)
  (source / "zoo" / "m" / "manifest.json").write_text("{}\n")
  (source / "zoo" / "m" / "1" / "q1" / "saved_model.pb").write_bytes(b"pb")
  pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
  built = subprocess.run(pip + ["wheel", "-v", "--no-deps", "--no-build-isolation", "-w",
                                str(tmp_path / "dist"), str(source)],
                         capture_output=True, text=True, check=True)
  assert "is absent from the `packages` configuration" not in built.stdout + built.stderr
  [wheel] = (tmp_path / "dist").glob("*.whl")
  names = set(zipfile.ZipFile(wheel).namelist())
  assert {"tfc_swin/data/sample.png", "tfc_swin/zoo_data/zoo.json",
          "tfc_swin/zoo_data/m/1/q1/saved_model.pb"} <= names
  subprocess.run(pip + ["install", "-q", "--no-deps", "--target", str(tmp_path / "site"),
                        str(wheel)], check=True, capture_output=True)
  code = ("import os, tfc_swin.data, tfc_swin.zoo as z; "
          "print(z.root(), z.models(), os.path.exists(tfc_swin.data.SAMPLE_IMAGE))")
  env = {k: v for k, v in os.environ.items() if k != "TFC_SWIN_ZOO"}
  run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, check=True, env={**env, "PYTHONPATH": str(tmp_path / "site")})
  site_zoo = tmp_path / "site" / "tfc_swin" / "zoo_data"
  assert run.stdout.split() == [str(site_zoo), "['m']", "True"]
