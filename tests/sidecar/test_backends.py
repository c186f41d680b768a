# SPDX-License-Identifier: GPL-2.0
"""Tests of vexfsd's embedding backends (tools/vexfsd/vexfsd/backends.py).

    python3 tests/sidecar/test_backends.py           # builtin + http; minilm skipped
    build/pyenv/bin/python tests/sidecar/test_backends.py   # all three

Prints "ok NAME" / "FAIL NAME: why" / "skip NAME: why" per case, then
"N passed, N failed"; exits 1 if any case failed.  Servers only on 127.0.0.1.
"""

import http.server
import json
import math
import os
import socket
import sys
import threading
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "vexfsd"))

from vexfsd.backends import BackendError, make_backend  # noqa: E402

# Distinct topics: each query must find its own document first.
DOCS = {
    "pasta": "Boil the spaghetti in salted water, then toss the pasta with tomato "
             "sauce, garlic and basil. A simple Italian recipe for a quick dinner.",
    "kernel": "The Linux kernel pins user memory pages before a DMA transfer; the "
              "page cache and the virtual memory subsystem manage physical pages.",
    "finance": "Stock markets fell after the central bank raised interest rates; "
               "investors sold shares and bond yields climbed.",
    "astronomy": "The telescope observed a distant galaxy, and astronomers measured "
                 "the redshift of its stars and the planets orbiting them.",
    "football": "The football team scored two goals in the second half and won the "
                "league match against their old rivals.",
}
QUERIES = {
    "pasta": "cooking pasta recipe",
    "kernel": "how is memory pinned in the kernel",
    "finance": "interest rates and the stock market",
    "astronomy": "galaxies and stars seen through telescopes",
    "football": "who won the football match",
}

results = {"passed": 0, "failed": 0, "skipped": 0}


def case(name, fn):
    try:
        fn()
    except Skip as e:
        results["skipped"] += 1
        print("skip %s: %s" % (name, e))
    except AssertionError as e:
        results["failed"] += 1
        print("FAIL %s: %s" % (name, e or traceback.format_exc().strip().splitlines()[-2]))
    except Exception as e:
        results["failed"] += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
    else:
        results["passed"] += 1
        print("ok %s" % name)
    sys.stdout.flush()


class Skip(Exception):
    pass


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def norm(a):
    return math.sqrt(dot(a, a))


def check_unit(vecs, dim):
    for v in vecs:
        assert len(v) == dim, "dim %d, expected %d" % (len(v), dim)
        assert all(isinstance(x, float) for x in v), "not floats"
        assert abs(norm(v) - 1) < 1e-4, "norm %f" % norm(v)


def check_topics(backend):
    names = list(DOCS)
    dvecs = backend.embed([DOCS[n] for n in names])
    qvecs = backend.embed([QUERIES[n] for n in names])
    for n, q in zip(names, qvecs):
        scores = [dot(q, d) for d in dvecs]
        best = names[scores.index(max(scores))]
        assert best == n, "query %r nearest to %r, not %r (%s)" % (
            QUERIES[n], best, n, ", ".join("%.3f" % s for s in scores))


def expect_error(fn, *needles):
    try:
        fn()
    except BackendError as e:
        for s in needles:
            assert s in str(e), "error %r lacks %r" % (str(e), s)
        return str(e)
    raise AssertionError("no BackendError raised")


# --------------------------------------------------------------------------
# builtin

def t_builtin_determinism():
    a = make_backend({"backend": "builtin"})
    b = make_backend({"backend": "builtin"})
    texts = ["hello world", "Hello, World!", "", "naïve café", "x" * 1000]
    va = a.embed(texts)
    assert va == b.embed(texts), "two instances differ"
    assert va == a.embed(texts), "same instance differs on a second call"
    assert va[0] == va[1], "case and punctuation should not matter"
    # Stable across processes: python's salted hash() must not be involved.
    import subprocess
    code = ("import sys, json; sys.path.insert(0, %r); from vexfsd.backends import "
            "make_backend; print(json.dumps(make_backend({'backend': 'builtin'})"
            ".embed(['hello world'])))" % os.path.join(HERE, "..", "..", "tools", "vexfsd"))
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out)[0] == va[0], "differs in another process"


def t_builtin_normalisation():
    b = make_backend({"backend": "builtin"})
    check_unit(b.embed(["a b c", "", "the of and", "one two two three three three",
                        "Ünïcödé текст 東京"]), 256)
    assert b.embed([]) == []


def t_builtin_dims():
    for dim in (2, 8, 64, 256, 384, 1024):
        b = make_backend({"backend": "builtin", "dim": dim})
        assert b.dim == dim and b.metric == "cosine"
        check_unit(b.embed(["some text about vectors"]), dim)
    b = make_backend({"backend": "builtin"})
    assert (b.name, b.model, b.model_version, b.dim) == (
        "builtin", "vexfs-builtin-hash", "1", 256), b.info()
    expect_error(lambda: make_backend({"backend": "builtin", "dim": 0}), "dim")
    expect_error(lambda: make_backend({"backend": "builtin", "dim": "x"}), "dim")
    expect_error(lambda: make_backend({"backend": "nope"}), "unknown backend")
    expect_error(lambda: b.embed("not a list"), "list")


def t_builtin_topics():
    check_topics(make_backend({"backend": "builtin"}))


# --------------------------------------------------------------------------
# http: a fake OpenAI-compatible server serving builtin embeddings

class FakeServer:
    def __init__(self, status=200):
        self.requests = []
        self.status = status
        builtin = make_backend({"backend": "builtin", "dim": 256})
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                srv.requests.append((self.path, dict(self.headers), body))
                if srv.status != 200:
                    msg = b'{"error": "model exploded"}'
                    self.send_response(srv.status)
                else:
                    vecs = builtin.embed(body["input"])
                    data = [{"object": "embedding", "index": i, "embedding": v}
                            for i, v in enumerate(vecs)]
                    data.reverse()          # clients must sort by index
                    msg = json.dumps({"object": "list", "data": data,
                                      "model": body["model"]}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def t_http_basic():
    srv = FakeServer()
    try:
        b = make_backend({"backend": "http", "url": srv.url + "/", "model": "fake-embed",
                          "api_key": "sekret", "timeout": 10})
        assert b.model == "fake-embed" and b.name == "http"
        texts = [DOCS[n] for n in DOCS]
        got = b.embed(texts)
        ref = make_backend({"backend": "builtin", "dim": 256}).embed(texts)
        assert b.dim == 256, "dim %r" % b.dim
        for g, r in zip(got, ref):
            assert max(abs(x - y) for x, y in zip(g, r)) < 1e-9, "wrong vector or order"
        path, headers, body = srv.requests[0]
        assert path == "/v1/embeddings", path
        assert headers.get("Authorization") == "Bearer sekret", headers
        assert body == {"model": "fake-embed", "input": texts}, body
        assert b.embed([]) == [] and len(srv.requests) == 1
        # dim discovered by a probe when asked before any embed()
        b2 = make_backend({"backend": "http", "url": srv.url + "/v1", "model": "m"})
        assert b2.dim == 256 and srv.requests[-1][0] == "/v1/embeddings"
        check_topics(b)
        b.close()
    finally:
        srv.stop()


def t_http_batching():
    srv = FakeServer()
    try:
        b = make_backend({"backend": "http", "url": srv.url, "model": "m", "dim": 256})
        texts = ["text number %d about topic %d" % (i, i % 7) for i in range(150)]
        got = b.embed(texts)
        sizes = [len(r[2]["input"]) for r in srv.requests]
        assert sizes == [64, 64, 22], sizes
        ref = make_backend({"backend": "builtin", "dim": 256}).embed(texts)
        assert all(max(abs(x - y) for x, y in zip(g, r)) < 1e-9
                   for g, r in zip(got, ref)), "batches reassembled wrongly"
        b = make_backend({"backend": "http", "url": srv.url, "model": "m", "dim": 32})
        expect_error(lambda: b.embed(["x"]), "dim 256", "expected 32")
    finally:
        srv.stop()


def t_http_error_500():
    srv = FakeServer(status=500)
    try:
        b = make_backend({"backend": "http", "url": srv.url, "model": "m"})
        expect_error(lambda: b.embed(["x"]), "HTTP 500", srv.url + "/v1/embeddings",
                     "model exploded")
    finally:
        srv.stop()


def t_http_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                        # nothing listens there now
    url = "http://127.0.0.1:%d" % port
    b = make_backend({"backend": "http", "url": url, "model": "m", "timeout": 5})
    expect_error(lambda: b.embed(["x"]), url + "/v1/embeddings", "cannot connect")
    expect_error(lambda: make_backend({"backend": "http", "model": "m"}), "url")
    expect_error(lambda: make_backend({"backend": "http", "url": url}), "model")


# --------------------------------------------------------------------------
# minilm: only where its packages are installed (build/pyenv/bin/python)

_minilm = []


def minilm():
    if not _minilm:
        import importlib.util
        for mod in ("numpy", "onnxruntime", "tokenizers"):
            if importlib.util.find_spec(mod) is None:
                raise Skip("no %s in %s (run scripts/install-pyenv, then use "
                           "build/pyenv/bin/python)" % (mod, sys.executable))
        _minilm.append(make_backend({}))
    return _minilm[0]


def t_minilm_basic():
    b = minilm()
    assert (b.name, b.model, b.dim, b.metric) == ("minilm", "all-MiniLM-L6-v2", 384,
                                                  "cosine"), b.info()
    assert b.model_version.startswith("onnx-int8"), b.model_version
    vecs = b.embed(["hello", "", "a much longer text " * 300, "naïve café 東京"])
    check_unit(vecs, 384)
    # batching, ordering and padding do not change a vector
    many = ["sentence %d about %s" % (i, w) for i, w in
            enumerate(["cats", "kernels", "pasta"] * 30)]
    batched = b.embed(many)
    for i in (0, 41, 89):
        one = b.embed([many[i]])[0]
        assert max(abs(x - y) for x, y in zip(one, batched[i])) < 1e-5, i


def t_minilm_topics():
    check_topics(minilm())


def t_minilm_reference():
    b = minilm()
    with open(os.path.join(HERE, "minilm_reference.json")) as f:
        ref = json.load(f)
    got = b.embed([c["text"] for c in ref["cases"]])
    for c, v in zip(ref["cases"], got):
        cos = dot(v, c["embedding"]) / norm(c["embedding"])
        assert cos > 0.99, "cosine %.5f to the torch reference for %r" % (cos, c["text"])


def t_minilm_missing_hint():
    # Without its packages, or with its files missing, the error says what to run.
    try:
        minilm()
        cfg = {"model_dir": "/nonexistent"}
    except Skip:
        cfg = {}
    expect_error(lambda: make_backend(cfg), "install-pyenv", sys.executable)


CASES = [
    ("builtin_determinism", t_builtin_determinism),
    ("builtin_normalisation", t_builtin_normalisation),
    ("builtin_dims", t_builtin_dims),
    ("builtin_topic_separation", t_builtin_topics),
    ("http_basic", t_http_basic),
    ("http_batching_over_64", t_http_batching),
    ("http_error_500", t_http_error_500),
    ("http_connection_refused", t_http_connection_refused),
    ("minilm_dim_normalisation", t_minilm_basic),
    ("minilm_topic_ranking", t_minilm_topics),
    ("minilm_vs_torch_reference", t_minilm_reference),
    ("minilm_missing_files_error", t_minilm_missing_hint),
]

if __name__ == "__main__":
    for name, fn in CASES:
        case(name, fn)
    line = "%d passed, %d failed" % (results["passed"], results["failed"])
    if results["skipped"]:
        line += ", %d skipped" % results["skipped"]
    print(line)
    sys.exit(1 if results["failed"] else 0)
