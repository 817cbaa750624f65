"""Name -> object registries for models, datasets, tokenizers and callbacks.

Built-ins and third-party plugins register the same way: with the decorator
(``@jaxtext.register_model("name")``) or through an entry point in the group
``jaxtext.models`` / ``jaxtext.datasets`` / ``jaxtext.tokenizers`` / ``jaxtext.callbacks``.
Entry points are listed without importing them and loaded on first use, so listing
plugins never imports heavy optional dependencies.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from jaxtext.errors import UnknownNameError, did_you_mean


@dataclass
class Entry:
    name: str
    source: str  # "built-in" or "plugin (<module or distribution>)"
    obj: Any = None
    entry_point: Any = None  # importlib.metadata.EntryPoint, loaded lazily

    def load(self) -> Any:
        if self.obj is None:
            self.obj = self.entry_point.load()
        return self.obj


class Registry:
    """A small name -> object table with lazy entry-point plugins."""

    def __init__(self, kind: str, group: str, builtin_modules: tuple[str, ...] = ()):
        self.kind = kind
        self.group = group
        self._builtin_modules = builtin_modules
        self._entries: dict[str, Entry] = {}
        self._discovered = False

    def register(self, name: str, obj: Any = None):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""
        if obj is None:
            return lambda o: self.register(name, o)
        module = getattr(obj, "__module__", "") or ""
        source = "built-in" if module.split(".")[0] == "jaxtext" else f"plugin ({module})"
        self._entries[name] = Entry(name, source, obj=obj)
        return obj

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for module in self._builtin_modules:
            importlib.import_module(module)
        for ep in entry_points(group=self.group):
            if ep.name in self._entries:
                continue
            dist = getattr(ep.dist, "name", None) or ep.module
            source = "built-in" if dist == "jaxtext" else f"plugin ({dist})"
            self._entries[ep.name] = Entry(ep.name, source, entry_point=ep)

    def get(self, name: str) -> Any:
        self._discover()
        if not isinstance(name, str) or name not in self._entries:
            known = ", ".join(sorted(self._entries))
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}; "
                f"known {self.kind}s: {known}"
            )
        return self._entries[name].load()

    def __contains__(self, name: str) -> bool:
        self._discover()
        return name in self._entries

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def sources(self) -> dict[str, str]:
        """name -> where it comes from ("built-in" or "plugin (...)")."""
        self._discover()
        return {name: self._entries[name].source for name in sorted(self._entries)}


models = Registry("model", "jaxtext.models", ("jaxtext.models",))
datasets = Registry("dataset", "jaxtext.datasets", ("jaxtext.data.sources",))
tokenizers = Registry("tokenizer", "jaxtext.tokenizers", ("jaxtext.data.tokenizers",))
callbacks = Registry("callback", "jaxtext.callbacks", ("jaxtext.callbacks",))

register_model = models.register
register_dataset = datasets.register
register_tokenizer = tokenizers.register
register_callback = callbacks.register

REGISTRIES = {"models": models, "datasets": datasets, "tokenizers": tokenizers, "callbacks": callbacks}
