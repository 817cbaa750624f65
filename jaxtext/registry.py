"""Name -> object registries for models, datasets, tokenizers and callbacks.

Built-ins and third-party plugins register the same way: with the decorator
(``@jaxtext.register_model("name")``) or through an entry point in the group
``jaxtext.models`` / ``jaxtext.datasets`` / ``jaxtext.tokenizers`` / ``jaxtext.callbacks``.
Entry points are listed without importing them and loaded on first use, so listing
plugins never imports heavy optional dependencies.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from jaxtext import protocols
from jaxtext.errors import ConfigError, UnknownNameError, did_you_mean, shown


@dataclass
class Entry:
    name: str
    source: str  # "built-in" or "plugin (<module or distribution>)"
    obj: Any = None
    entry_point: Any = None  # importlib.metadata.EntryPoint, loaded lazily
    check: Callable[[str, Any], None] = lambda name, obj: None  # the registry's contract check

    def load(self) -> Any:
        if self.obj is None:
            obj = self.entry_point.load()
            self.check(self.name, obj)
            self.obj = obj
        return self.obj


class Registry:
    """A small name -> object table with lazy entry-point plugins."""

    def __init__(self, kind: str, group: str, builtin_modules: tuple[str, ...] = (),
                 check: Callable[[str, Any], None] | None = None):
        self.kind = kind
        self.group = group
        # check(name, obj) raises a one-line ConfigError when obj breaks the plugin contract
        self._check = check or (lambda name, obj: protocols.check_callable(kind, name, obj))
        self._builtin_modules = builtin_modules
        self._entries: dict[str, Entry] = {}
        self._discovered = False

    def register(self, name: str, obj: Any = None):
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""
        if obj is None:
            return lambda o: self.register(name, o)
        self._check(name, obj)
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
            self._entries[ep.name] = Entry(ep.name, source, entry_point=ep, check=self._check)

    def get(self, name: str) -> Any:
        self._discover()
        if not isinstance(name, str) or name not in self._entries:
            known = ", ".join(sorted(self._entries))
            raise UnknownNameError(
                f"unknown {self.kind} {shown(name)}{did_you_mean(name, self._entries)}; "
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


models = Registry("model", "jaxtext.models", ("jaxtext.models",),
                  check=protocols.check_model_class)
datasets = Registry("dataset", "jaxtext.datasets", ("jaxtext.data.builtin",))
tokenizers = Registry("tokenizer", "jaxtext.tokenizers", ("jaxtext.data.tokenizer_kinds",))
callbacks = Registry("callback", "jaxtext.callbacks", ("jaxtext.callbacks",))

# Notebook views of core objects (e.g. "comparison": Comparison -> HTML), from plugins only:
# the core asks for one by name and shows its own tables when none is installed.
views = Registry("view", "jaxtext.views")

register_model = models.register
register_dataset = datasets.register
register_tokenizer = tokenizers.register
register_callback = callbacks.register

REGISTRIES = {"models": models, "datasets": datasets, "tokenizers": tokenizers, "callbacks": callbacks}


def list_plugins(kinds: list[str] | None = None) -> list[dict[str, str]]:
    """One row per registered name: ``{"kind", "name", "source"}`` (built-in or plugin).

    ``kinds``: which registries ("models", "datasets", "tokenizers", "callbacks"; the singular
    works too); all when empty. An unknown kind is a one-line ``ConfigError``.
    """
    wanted = []
    for word in kinds or REGISTRIES:
        kind = word if word in REGISTRIES else f"{word}s"
        if kind not in REGISTRIES:
            raise ConfigError(f"nothing to list as {shown(word)}{did_you_mean(word, REGISTRIES)}; "
                              f"choose from {', '.join(REGISTRIES)}")
        wanted.append(kind)
    return [{"kind": REGISTRIES[kind].kind, "name": name, "source": source}
            for kind in REGISTRIES if kind in wanted
            for name, source in REGISTRIES[kind].sources().items()]
