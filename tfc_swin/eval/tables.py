"""Markdown tables: the one table builder of the package (reports of the evaluation, the
profiler and ``tfc-swin models --zoo --markdown``). No dependencies beyond the standard
library."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]],
                   numeric: Sequence[bool] | None = None) -> str:
  """A markdown table (no trailing newline); ``numeric`` columns are right-aligned."""
  numeric = numeric or [False] * len(header)
  line = lambda cells: "| " + " | ".join(str(c) for c in cells) + " |"  # noqa: E731
  rule = "|" + "".join("---:|" if n else "---|" for n in numeric)
  return "\n".join([line(header), rule] + [line(row) for row in rows])
