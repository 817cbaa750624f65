import os

# Tests run on the CPU; keep XLA from grabbing every core's worth of threads twice over.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pytest  # noqa: E402

# A small, fast classifier setting shared by the engine tests.
TINY = dict(model="mlp", data="rotten_tomatoes", limit=3000, epochs=3, batch_size=32,
            vocab_size=4000, max_len=48, log_every=10, dim=16, ngram_buckets=4096, lr=2e-2)


@pytest.fixture(scope="session")
def tiny_run():
    import jaxtext

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
