# SPDX-License-Identifier: GPL-2.0
"""vexfsd's configuration: /etc/vexfsd.toml, then command-line flags on top.

docs/VEXFSD.md is the reference; tools/vexfsd/vexfsd.toml.example a sample.
Unknown keys are errors, so that a typo does not silently keep a default.
"""

import os
import re
import tomllib

from . import chunk

DEFAULT_PATH = "/etc/vexfsd.toml"
SPACE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}")	# include/uapi/linux/vexfs.h

DEFAULTS = {
    "mounts": [],			# [{"path": "/mnt/docs", "spaces": ["docs"]}]
    "backend": {"backend": "minilm"},	# handed to backends.make_backend
    "window": 32,			# requests the kernel may have in flight per registration
    "batch_size": 64,			# chunks per embed call
    "batch_wait_ms": 50,		# how long a chunk may wait for a batch to fill
    "timeout_ms": 120000,		# the kernel resends a request unanswered this long
    "max_file_bytes": 64 << 20,		# larger files fail with EFBIG
    "chunk_size": chunk.CHUNK_SIZE,	# characters
    "chunk_overlap": chunk.CHUNK_OVERLAP,
    "pdftotext_timeout_s": 60.0,
    "adopt": False,			# serve spaces that record no model
    "model_process": True,		# run the model in a child process (vexfsd run)
    "log_format": "json",
    "log_level": "info",
}

# key: (type, minimum, maximum)
_NUMBERS = {
    "window": (int, 1, 1024),
    "batch_size": (int, 1, 65536),
    "batch_wait_ms": (int, 0, 60000),
    "timeout_ms": (int, 100, 3600000),
    "max_file_bytes": (int, 1, 1 << 40),
    "chunk_size": (int, 1, 1 << 20),
    "chunk_overlap": (int, 0, 1 << 20),
    "pdftotext_timeout_s": ((int, float), 0.1, 3600),
}
_CHOICES = {
    "log_format": ("json", "text"),
    "log_level": ("debug", "info", "warning", "error"),
}


class ConfigError(Exception):
    pass


def load(path=None):
    """The file's settings over the defaults.  path None: DEFAULT_PATH if it exists."""
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()}
    if path is None:
        if not os.path.exists(DEFAULT_PATH):
            return cfg
        path = DEFAULT_PATH
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    for key, value in data.items():
        if key not in DEFAULTS:
            raise ConfigError(f"{path}: unknown setting {key!r}")
        cfg[key] = value
    try:
        return validate(cfg)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _mounts(value):
    if not isinstance(value, list):
        raise ConfigError("mounts must be a list of {path = ..., spaces = [...]} tables")
    out = []
    for m in value:
        if not isinstance(m, dict) or set(m) - {"path", "spaces"}:
            raise ConfigError(f"mount {m!r}: only path and spaces are allowed")
        path, spaces = m.get("path"), m.get("spaces")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"mount {m!r}: path must be an absolute path")
        if not isinstance(spaces, list) or not spaces or \
                not all(isinstance(s, str) and SPACE_NAME.fullmatch(s) for s in spaces):
            raise ConfigError(f"mount {path}: spaces must be a non-empty list of space names "
                              "(1..63 of A-Z a-z 0-9 . _ -, not starting with '.')")
        out.append({"path": path, "spaces": list(spaces)})
    return out


def validate(cfg):
    """Check types and ranges; returns cfg."""
    cfg["mounts"] = _mounts(cfg["mounts"])
    if not isinstance(cfg["backend"], dict) or not isinstance(cfg["backend"].get("backend"), str):
        raise ConfigError('[backend] needs backend = "minilm" | "http" | "builtin"')
    for key, (types, lo, hi) in _NUMBERS.items():
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, types) or not lo <= value <= hi:
            raise ConfigError(f"{key} = {value!r}: expected a number in {lo}..{hi}")
    if cfg["chunk_overlap"] >= cfg["chunk_size"]:
        raise ConfigError(f"chunk_overlap ({cfg['chunk_overlap']}) must be less than "
                          f"chunk_size ({cfg['chunk_size']})")
    for key, choices in _CHOICES.items():
        if cfg[key] not in choices:
            raise ConfigError(f"{key} = {cfg[key]!r}: expected one of {', '.join(choices)}")
    for key in ("adopt", "model_process"):
        if not isinstance(cfg[key], bool):
            raise ConfigError(f"{key} must be true or false")
    return cfg


# Flags that override a backend table entry: flag attribute -> key.
BACKEND_FLAGS = {"backend": "backend", "url": "url", "model": "model", "dim": "dim"}
# Flags that override a top-level setting.
SETTING_FLAGS = ("window", "batch_size", "batch_wait_ms", "timeout_ms", "max_file_bytes",
                 "chunk_size", "chunk_overlap", "log_format", "log_level")


def apply_flags(cfg, args):
    """Override cfg with the command-line flags that were given (not None)."""
    for attr, key in BACKEND_FLAGS.items():
        if getattr(args, attr, None) is not None:
            cfg["backend"][key] = getattr(args, attr)
    for key in SETTING_FLAGS:
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    if getattr(args, "mounts", None):
        cfg["mounts"] = args.mounts
    if getattr(args, "adopt", False):
        cfg["adopt"] = True
    if getattr(args, "model_process", None) is False:
        cfg["model_process"] = False
    return validate(cfg)
