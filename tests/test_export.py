"""Run.export, jaxtext.exported and the HTTP server: exact answers without the model code."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import TINY

import jaxtext
from jaxtext.errors import ConfigError, RunFolderError
from jaxtext.exported import FILES, load_exported

TEXTS = ["a wonderful, moving film", "dull and lifeless", "", "!!!", "<eos> typed <pad>",
         "the plot " * 40, "ünïcödé ☃ words", "an utterly unknownword zyzzyva", "good " * 7,
         "bad", "not bad at all, really quite good", "the the the"]


@pytest.fixture(scope="module")
def exported_dir(tiny_run, tmp_path_factory):
    return tiny_run.export(tmp_path_factory.mktemp("export") / "clf")


def predicted(run, texts) -> np.ndarray:
    return run.predict(texts)[run.label_names].to_numpy()


def test_export_writes_the_files_and_a_manifest(tiny_run, exported_dir):
    assert sorted(p.name for p in exported_dir.iterdir()) == sorted(FILES)
    manifest = json.loads((exported_dir / "manifest.json").read_text())
    assert manifest["format"] == "jaxtext.export/1" and manifest["task"] == "classify"
    assert manifest["labels"] == tiny_run.label_names
    assert manifest["max_len"] == TINY["max_len"] and manifest["batch_size"] == TINY["batch_size"]
    assert manifest["widths"][-1] == TINY["max_len"]


def test_exported_predicts_exactly_like_the_run(tiny_run, exported_dir):
    model = load_exported(exported_dir)
    probs = model.probs(TEXTS)
    assert probs.dtype == np.float32
    assert np.array_equal(probs, predicted(tiny_run, TEXTS))
    singles = np.concatenate([predicted(tiny_run, [t]) for t in TEXTS])
    assert np.array_equal(probs, singles)
    first = model.predict(TEXTS[0])[0]
    assert first["label"] == tiny_run.predict(TEXTS[0]).label[0]
    assert list(first["probs"]) == tiny_run.label_names
    assert model.probs([]).shape == (0, 2)
    with pytest.raises(ConfigError, match="not a list holding int"):
        model.predict(["ok", 3])


BLOCKED_LOAD = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = ("flax", "optax", "pandas", "datasets", "jaxtext.models", "jaxtext.training",
               "jaxtext.run", "jaxtext.data", "jaxtext.export")

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                raise ImportError(f"blocked in this test: {name}")

    sys.meta_path.insert(0, Blocker())
    import json
    import numpy as np
    from jaxtext.exported import load_exported

    model = load_exported(sys.argv[1])
    np.save(sys.argv[2], model.probs(json.loads(sys.argv[3])))
    print(sorted(m for m in sys.modules if m.split(".")[0] in ("flax", "optax", "pandas")))
""")


def test_export_loads_in_a_process_without_the_model_code(tiny_run, exported_dir, tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", BLOCKED_LOAD, str(exported_dir),
                          str(tmp_path / "probs.npy"), json.dumps(TEXTS)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"  # none of them was imported
    assert np.array_equal(np.load(tmp_path / "probs.npy"), predicted(tiny_run, TEXTS))


def test_export_refuses_to_overwrite_without_the_flag(tiny_run, exported_dir, tmp_path):
    with pytest.raises(RunFolderError, match="already holds an export; pass overwrite=True"):
        tiny_run.export(exported_dir)
    before = (exported_dir / "function.jax").stat().st_ino
    tiny_run.export(exported_dir, overwrite=True)
    assert (exported_dir / "function.jax").stat().st_ino != before  # replaced whole
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="exists and is not a jaxtext export"):
        tiny_run.export(other, overwrite=True)
    assert (other / "keep.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="export takes a folder path, not int"):
        tiny_run.export(3)
    assert not list(tmp_path.glob(".*saving*"))  # no half-written folder left behind


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("damage", ["missing", "junk", "truncated"])
def test_a_damaged_export_names_the_file(exported_dir, tmp_path, name, damage):
    broken = tmp_path / "broken"
    shutil.copytree(exported_dir, broken)
    data = (broken / name).read_bytes()
    if damage == "missing":
        (broken / name).unlink()
    else:
        (broken / name).write_bytes(b"\x00junk{" * 9 if damage == "junk" else data[:len(data) // 2])
    pattern = f"{name} is missing" if damage == "missing" else f"{name} is damaged"
    with pytest.raises(RunFolderError, match=pattern) as caught:
        load_exported(broken)
    assert "\n" not in str(caught.value)


LM_TEXTS = ["the cat sat on the mat", "a dog ran in the park", "birds fly over the sea"] * 20
GENERATE_CALLS = [dict(prompt="the ", temperature=0.0, max_new_tokens=20),
                  dict(prompt="a d", temperature=0.8, top_k=5, num_samples=3, seed=7,
                       max_new_tokens=25),
                  dict(prompt="", max_new_tokens=10),
                  dict(prompt="birds fly over the sea " * 3, max_new_tokens=20, seed=3)]


@pytest.fixture(scope="module")
def lm_export(tmp_path_factory):
    lm = jaxtext.train(model="transformer", task="lm", tokenizer="char", data=LM_TEXTS,
                       max_len=32, epochs=2, callbacks=[])
    return lm, lm.export(tmp_path_factory.mktemp("lm") / "lm")


GENERATE_BLOCKED = BLOCKED_LOAD.replace(
    "np.save(sys.argv[2], model.probs(json.loads(sys.argv[3])))",
    "json.dump([model.generate(**c) for c in json.loads(sys.argv[3])], open(sys.argv[2], 'w'))")


def test_a_language_model_export_samples_like_the_run(lm_export, tmp_path):
    """Greedy, top-k, several samples, an empty prompt, a prompt cut to the decode limit:
    the exported decode steps give run.generate's samples, in a process without Flax."""
    lm, folder = lm_export
    assert {p.name for p in folder.iterdir()} == {"manifest.json", "init.jax", "decode.jax",
                                                  "weights.npz", "tokenizer.json"}
    out = subprocess.run([sys.executable, "-c", GENERATE_BLOCKED, str(folder),
                          str(tmp_path / "samples.json"), json.dumps(GENERATE_CALLS)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr
    expected = [lm.generate(c["prompt"], **{k: v for k, v in c.items() if k != "prompt"})
                for c in GENERATE_CALLS]
    assert json.loads((tmp_path / "samples.json").read_text()) == expected
    model = load_exported(folder)
    with pytest.raises(ConfigError, match="exceeds what this model can decode"):
        model.generate("x", max_new_tokens=40)
    for bad in ({"top_p": 0}, {"seed": 2**63}, {"top_k": 1.5}, {"temperature": float("nan")},
                {"num_samples": True}, {"max_new_tokens": 0}):  # the run's own messages
        with pytest.raises(ConfigError) as theirs:
            lm.generate("x", **bad)
        with pytest.raises(ConfigError, match=re.escape(str(theirs.value))):
            model.generate("x", **bad)
    (folder / "decode.jax").rename(tmp_path / "decode.jax")
    try:
        with pytest.raises(RunFolderError, match="decode.jax is missing"):
            load_exported(folder)
    finally:
        (tmp_path / "decode.jax").rename(folder / "decode.jax")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxtext", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300)


def post(url, body: bytes):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def server(tiny_run, tmp_path_factory):
    """``python -m jaxtext export`` then ``serve`` on a free port, as real subprocesses."""
    folder = tmp_path_factory.mktemp("served")
    tiny_run.save(folder / "run")
    made = cli("export", folder / "run", folder / "export")
    assert made.returncode == 0 and "exported to" in made.stdout, made.stderr
    again = cli("export", folder / "run", folder / "export")
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert "already holds an export; pass overwrite=True (--overwrite)" in again.stderr
    process = subprocess.Popen([sys.executable, "-m", "jaxtext", "serve", folder / "export",
                                "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    line = process.stdout.readline()  # printed once it listens
    assert line.startswith("serving mlp on http://"), line + process.stderr.read()
    yield line.split()[3]
    process.terminate()
    process.wait(timeout=30)


def test_serve_mistakes_are_one_line(exported_dir, tmp_path):
    import socket

    missing = cli("serve", tmp_path / "nothing")
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "no export or saved run at" in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = cli("serve", exported_dir, "--port", taken.getsockname()[1])
    assert busy.returncode == 2 and busy.stderr.count("\n") == 1
    assert "Address already in use); pick another --port" in busy.stderr


@pytest.mark.slow
def test_server_answers_concurrent_requests_exactly(tiny_run, server):
    words = ["good", "bad", "film", "dull", "moving", "plot", "the", "not", "great", "awful"]
    rng = np.random.default_rng(0)
    requests = [[" ".join(rng.choice(words, rng.integers(0, 60))) for _ in range(rng.integers(1, 4))]
                for _ in range(200)]
    unique = sorted({t for texts in requests for t in texts})
    expected = {t: p for t, p in zip(unique, [predicted(tiny_run, [t])[0] for t in unique],
                                     strict=True)}

    def ask(texts):
        return post(f"{server}/predict", json.dumps({"texts": texts}).encode())

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, requests))
    for texts, (status, body) in zip(requests, answers, strict=True):
        assert status == 200, body
        assert len(body["predictions"]) == len(texts)
        for text, prediction in zip(texts, body["predictions"], strict=True):
            probs = np.array([prediction["probs"][n] for n in tiny_run.label_names], np.float32)
            assert np.array_equal(probs, expected[text]), text
            assert prediction["label"] == tiny_run.label_names[int(expected[text].argmax())]
    with urllib.request.urlopen(f"{server}/health", timeout=60) as response:
        health = json.loads(response.read())
    assert health["status"] == "ok" and health["labels"] == tiny_run.label_names
    assert health["requests"] >= 200 and health["calls"] < health["requests"]  # it batched


@pytest.mark.slow
@pytest.mark.parametrize("model", ["mlp", "lstm"])
def test_the_other_language_models_export_exactly_too(model, tmp_path):
    lm = jaxtext.train(model=model, task="lm", tokenizer="char", data=LM_TEXTS, max_len=32,
                       epochs=1, callbacks=[])
    exported = load_exported(lm.export(tmp_path / model))
    for call in GENERATE_CALLS:
        options = {k: v for k, v in call.items() if k != "prompt"}
        assert exported.generate(call["prompt"], **options) == \
            lm.generate(call["prompt"], **options)


@pytest.mark.slow
def test_server_generates_like_the_run(lm_export):
    lm, folder = lm_export
    process = subprocess.Popen([sys.executable, "-m", "jaxtext", "serve", folder, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "JAX_PLATFORMS": "cpu"})
    try:
        line = process.stdout.readline()
        assert "(POST /generate, GET /health" in line, line + process.stderr.read()
        url = line.split()[3]
        for call in GENERATE_CALLS[:2]:
            code, answer = post(f"{url}/generate", json.dumps(call).encode())
            options = {k: v for k, v in call.items() if k != "prompt"}
            assert (code, answer) == (200, {"samples": lm.generate(call["prompt"], **options)})
        code, answer = post(f"{url}/generate", b'{"prompt": "a", "temp": 1}')
        assert code == 400 and "unknown field 'temp'" in answer["error"]
        code, answer = post(f"{url}/predict", b'{"texts": ["a"]}')
        assert code == 400 and "holds a language model: POST /generate" in answer["error"]
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("body, status, pattern", [
    (b"{not json", 400, "the body is not JSON"),
    (b'{"text": "one"}', 400, "missing field 'texts'"),
    (b'["a"]', 400, "the body must be a JSON object"),
    (b'{"texts": "one"}', 400, "'texts' must be a list of strings"),
    (b'{"texts": [1]}', 400, "'texts' must be a list of strings"),
])
def test_server_errors_are_json(server, body, status, pattern):
    code, answer = post(f"{server}/predict", body)
    assert code == status and pattern in answer["error"]


@pytest.mark.slow
def test_server_unknown_path_and_empty_request(server):
    code, answer = post(f"{server}/nowhere", b"{}")
    assert code == 404 and "unknown path /nowhere" in answer["error"]
    code, answer = post(f"{server}/generate", b'{"prompt": "a"}')
    assert code == 400 and "holds a classifier: POST /predict" in answer["error"]
    assert post(f"{server}/predict", b'{"texts": []}') == (200, {"predictions": []})
    code, answer = post(f"{server}/health", b"{}")
    assert code == 404


def test_a_saved_run_is_served_by_exporting_it_in_memory(tiny_run, tmp_path):
    from jaxtext.serve import load_servable

    tiny_run.save(tmp_path / "run")
    model = load_servable(tmp_path / "run")
    assert np.array_equal(model.probs(TEXTS), predicted(tiny_run, TEXTS))
    with pytest.raises(RunFolderError, match="neither an export .* nor a saved run"):
        load_servable(tmp_path)
