import os

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads twice over.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import contextlib  # noqa: E402
import signal  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402

import jaxtext  # noqa: E402

# A small, fast classifier setting shared by the engine tests.
TINY = dict(model="mlp", data="rotten_tomatoes", limit=3000, epochs=3, batch_size=32,
            vocab_size=4000, max_len=48, log_every=10, dim=16, ngram_buckets=4096, lr=2e-2)


class Recorder(jaxtext.Callback):
    """Keeps every event; asks for a stop, or sends its own process SIGINT (Ctrl-C), once the
    finished steps of a training run, a sweep or an LR finder reach a count."""

    def __init__(self, stop_at=None, sigint_at=None):
        self.events, self.stop_at, self.sigint_at = [], stop_at, sigint_at

    def __call__(self, event):
        self.events.append(event)
        super().__call__(event)

    def on_step(self, step):
        # the count of finished steps may advance by several between calls (a queue drains)
        self._reached(step)

    def on_lr_find_step(self, event):
        self._reached(event.step)

    def _reached(self, step):
        if self.stop_at is not None and step >= self.stop_at:
            self.control.request_stop("test stop")
            self.stop_at = None
        if self.sigint_at is not None and step >= self.sigint_at:
            self.sigint_at = None
            os.kill(os.getpid(), signal.SIGINT)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


@contextlib.contextmanager
def settings_only_model(name, training_defaults=None, presets=None):
    """A registered model (``name``) that only suggests settings, for config tests: a 4-wide
    Config, the given ``training_defaults`` / ``presets`` (functions of the task, or dicts);
    unregistered on exit."""
    from jaxtext.registry import models

    @jaxtext.register_model(name)
    class SettingsOnly:
        @dataclass(frozen=True)
        class Config:
            dim: int = 4

        def __init__(self, config, dims, *, rngs): ...

        def __call__(self, tokens, mask): ...

    if training_defaults is not None:
        SettingsOnly.training_defaults = staticmethod(training_defaults)
    if presets is not None:
        SettingsOnly.presets = staticmethod(presets) if callable(presets) else presets
    try:
        yield name
    finally:
        models.unregister(name)


@pytest.fixture(scope="session")
def tiny_run():
    return jaxtext.train(TINY, callbacks=[])


@pytest.fixture
def ip():
    """A real IPython shell with jaxtext's magics loaded; the names a test adds to its namespace
    and the magics' settings and records are reset afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    if "jaxtext" not in shell.extension_manager.loaded:
        shell.run_line_magic("load_ext", "jaxtext")
    magics = shell.magics_manager.registry["JaxtextMagics"]
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]
    magics.records.clear()
    for trait in ("callbacks", "show_dashboard", "defaults"):
        magics.set_trait(trait, magics.trait_defaults(trait))
