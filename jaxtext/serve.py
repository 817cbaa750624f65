"""``python -m jaxtext serve DIR``: an HTTP JSON server that batches concurrent requests.

    POST /predict {"texts": ["...", ...]}  ->  {"predictions": [{"label", "probs"}, ...]}
    POST /generate {"prompt": "...", "max_new_tokens": 50, ...}  ->  {"samples": ["...", ...]}
    GET  /health                           ->  {"status": "ok", "task", "model", ...}

A classifier answers /predict, a language model /generate (its options are generate()'s:
max_new_tokens, temperature, top_k, top_p, num_samples, seed). For /predict, each request's texts go to one collector thread, which gathers the requests that arrive
within ``wait_ms`` (up to ``max_batch`` texts), makes one call for all of them and answers
each. An answer never depends on what it was batched with (see ``jaxtext.exported``).
Mistakes are JSON too: ``{"error": "..."}`` with 400 (bad JSON, a missing field), 404
(unknown path), 405, 411, 413 or 500.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from jaxtext.errors import ConfigError, JaxtextError, RunFolderError

MAX_BODY = 16 * 2**20  # bytes of one request body
GENERATE_OPTIONS = ("max_new_tokens", "temperature", "top_k", "top_p", "num_samples", "seed")


class _Request:
    def __init__(self, texts: list[str]):
        self.texts = texts
        self.done = threading.Event()
        self.result: list | None = None
        self.error: BaseException | None = None


class Batcher:
    """One thread that runs ``predict(texts) -> list`` for requests gathered together."""

    def __init__(self, predict, *, max_batch: int = 64, wait_ms: float = 5.0):
        self._predict, self.max_batch, self.wait_s = predict, max_batch, wait_ms / 1000
        self._queue: queue.Queue = queue.Queue()
        self.requests = self.calls = 0  # requests answered, and the predict calls it took
        self._thread = threading.Thread(target=self._collect, name="jaxtext-batcher",
                                        daemon=True)
        self._thread.start()

    def submit(self, texts: list[str]) -> list:
        """The predictions for ``texts``, made in a batch with whatever else is waiting."""
        request = _Request(texts)
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _collect(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, size, deadline = [first], len(first.texts), time.monotonic() + self.wait_s
            closing = False
            while size < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                group.append(item)
                size += len(item.texts)
            self._answer(group)
            if closing:
                return

    def _answer(self, group: list[_Request]) -> None:
        try:
            results = self._predict([text for r in group for text in r.texts])
            self.calls, self.requests = self.calls + 1, self.requests + len(group)
            start = 0
            for request in group:
                request.result = results[start:start + len(request.texts)]
                start += len(request.texts)
        except BaseException as err:  # every waiting request hears about it
            for request in group:
                request.error = err
        for request in group:
            request.done.set()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a client may send many requests on one socket
    # headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK of the headers (~40 ms a request on Linux)
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self):
        if self.path == "/health":
            self._send(200, self.server.health())
        elif self.path in ("/predict", "/generate"):
            self._send(405, {"error": f"use POST {self.path} with a JSON body"})
        else:
            self._not_found()

    def do_POST(self):
        if self.path not in ("/predict", "/generate"):
            return self._not_found()
        task = "lm" if self.path == "/generate" else "classify"
        if self.server.task != task:
            other = "/generate" if task == "classify" else "/predict"
            kind = "a language model" if task == "classify" else "a classifier"
            return self._send(400, {"error": f"this server holds {kind}: POST {other}"},
                              close=True)
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return self._send(411, {"error": "send a Content-Length header"}, close=True)
        if int(length) > MAX_BODY:
            return self._send(413, {"error": f"body over {MAX_BODY} bytes; send fewer texts "
                                             "per request"}, close=True)
        example = '{"texts": ["..."]}' if task == "classify" else '{"prompt": "..."}'
        try:
            body = json.loads(self.rfile.read(int(length)))
        except (ValueError, UnicodeDecodeError) as err:
            return self._send(400, {"error": f"the body is not JSON ({err}); send {example}"})
        if not isinstance(body, dict):
            return self._send(400, {"error": f"the body must be a JSON object; send {example}"})
        try:
            if task == "lm":
                return self._send(200, {"samples": self._generate(body)})
            texts = body.get("texts")
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                problem = ("missing field 'texts'" if "texts" not in body
                           else "'texts' must be a list of strings")
                return self._send(400, {"error": f"{problem}; send {example}"})
            predictions = self.server.batcher.submit(texts) if texts else []
        except JaxtextError as err:
            return self._send(400, {"error": str(err)})
        except Exception as err:
            return self._send(500, {"error": f"failed: {type(err).__name__}: {err}"})
        self._send(200, {"predictions": [{"label": p["label"], "probs": p["probs"]}
                                         for p in predictions]})

    def _generate(self, body: dict) -> list[str]:
        from jaxtext.errors import ConfigError

        unknown = sorted(set(body) - {"prompt", *GENERATE_OPTIONS})
        if unknown:
            raise ConfigError(f"unknown field {unknown[0]!r}; fields: prompt, "
                              f"{', '.join(GENERATE_OPTIONS)}")
        options = {k: v for k, v in body.items() if k != "prompt"}
        return self.server.model.generate(body.get("prompt", ""), **options)

    def _not_found(self):
        self._send(404, {"error": f"unknown path {self.path}; use POST /predict or GET /health"})

    def _send(self, status: int, payload: dict, close: bool = False) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's name
        if self.server.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default listen backlog is 5: a burst of 16 concurrent clients overflowed
    # it and some connections were reset (seen in CI)
    request_queue_size = 128

    def __init__(self, address, model, batcher: Batcher, verbose: bool):
        super().__init__(address, _Handler)
        self.model, self.batcher, self.verbose = model, batcher, verbose
        self.task = model.manifest.get("task", "classify")

    def health(self) -> dict:
        facts = {"status": "ok", "task": self.task, "model": self.model.manifest.get("model"),
                 "max_len": self.model.max_len}
        if self.task == "lm":
            return facts
        return {**facts, "labels": self.model.labels, "max_batch": self.batcher.max_batch,
                "requests": self.batcher.requests, "calls": self.batcher.calls}


def make_server(model, *, host: str = "127.0.0.1", port: int = 8000, max_batch: int = 64,
                wait_ms: float = 5.0, verbose: bool = False) -> _Server:
    """A server for ``model`` (``ExportedClassifier`` or ``ExportedLM``), bound, not serving.

    A language model's requests are not batched: each runs its own decode loop.
    """
    return _Server((host, port), model, Batcher(getattr(model, "predict", None),
                                                max_batch=max_batch, wait_ms=wait_ms), verbose)


def load_servable(path: str | Path):
    """The model of an export folder, or of a saved run exported in memory."""
    from jaxtext.exported import ExportedClassifier, ExportedLM, load_exported

    path = Path(path)
    if not path.exists():
        raise RunFolderError(f"no export or saved run at '{path}'; write one with "
                             "`python -m jaxtext export RUN_DIR OUT_DIR` or run.save(path)")
    if (path / "manifest.json").is_file() or not (path / "meta.json").is_file():
        if path.is_dir() and not (path / "manifest.json").is_file():
            raise RunFolderError(f"'{path}' is neither an export (manifest.json) nor a saved "
                                 "run (meta.json); pass a folder written by export or save")
        return load_exported(path)
    import jaxtext

    run = jaxtext.load(path)
    kind = ExportedLM if run.task == "lm" else ExportedClassifier
    return kind(run._export_files(), where=str(path))


def serve_from_command_line(folder: str, *, host: str, port: int, max_batch: int,
                            wait_ms: float, verbose: bool) -> int:
    """``python -m jaxtext serve``: check the flags, bind the port (a taken one fails fast),
    compile, announce, then answer until Ctrl-C."""
    if max_batch < 1 or wait_ms < 0:
        raise ConfigError("--max-batch must be at least 1 and --wait-ms not negative")
    model = load_servable(folder)
    try:
        server = make_server(model, host=host, port=port, max_batch=max_batch,
                             wait_ms=wait_ms, verbose=verbose)
    except OSError as err:
        raise ConfigError(f"cannot listen on {host}:{port} ({err.strerror or err}); "
                          "pick another --port") from None
    model.warmup()  # bound first (a taken port fails fast), then compiled, then announced
    host, port = server.server_address[:2]
    endpoint = "/generate" if server.task == "lm" else "/predict"
    print(f"serving {model.manifest.get('model')} on http://{host}:{port} "
          f"(POST {endpoint}, GET /health; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C is how a server is meant to stop
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
        server.batcher.close()
    return 0
