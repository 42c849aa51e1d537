"""A small name -> object registry, used for config parts and the builders of each part."""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
  """Named entries of one kind (``what`` names the kind in error messages)."""

  def __init__(self, what: str):
    self.what = what
    self._entries: dict[str, T] = {}

  def register(self, name: str) -> Callable[[T], T]:
    """Decorator adding its target under ``name``; a name can be registered once."""

    def add(entry: T) -> T:
      if name in self._entries:
        raise ValueError(f"{self.what} {name!r} is already registered")
      self._entries[name] = entry
      return entry

    return add

  def get(self, name: str) -> T:
    try:
      return self._entries[name]
    except KeyError:
      raise ValueError(f"unknown {self.what} {name!r}; known: "
                       f"{', '.join(sorted(self._entries))}") from None

  def names(self) -> list[str]:
    return sorted(self._entries)

  def __contains__(self, name: object) -> bool:
    return name in self._entries
