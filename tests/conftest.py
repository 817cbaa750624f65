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
