# SPDX-License-Identifier: GPL-2.0
"""vexfsd command line: run | embed | init-space (docs/VEXFSD.md).

Exit status: 0 success, 1 failure (module not loaded, backend unusable,
kernel error), 2 usage or configuration error, or a space that cannot be
served (its model differs from the backend's).
"""

import argparse
import errno
import json
import os
import sys
from array import array

from . import __version__, config, vexfs
from .backends import BackendError, BuiltinBackend, make_backend
from .daemon import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, Daemon, Log, Refused, SystemKernel
from .worker import ModelProcess


class _MountAction(argparse.Action):
    """--mount PATH starts a mount; each --space NAME after it adds one of its spaces."""

    def __call__(self, parser, ns, value, option):
        mounts = getattr(ns, "mounts", None) or []
        if option == "--mount":
            mounts.append({"path": os.path.abspath(value), "spaces": []})
        elif not mounts:
            parser.error("--space needs a --mount before it")
        else:
            mounts[-1]["spaces"].append(value)
        ns.mounts = mounts


def _backend_flags(p):
    p.add_argument("--config", metavar="FILE",
                   help=f"configuration file (default {config.DEFAULT_PATH} if it exists)")
    p.add_argument("--backend", choices=("minilm", "http", "builtin"),
                   help="embedding backend (default: the config's, else minilm)")
    p.add_argument("--url", help="http backend: the OpenAI-compatible server")
    p.add_argument("--model", help="http backend: the model name to ask for")
    p.add_argument("--dim", type=int, help="builtin backend: the dimension")


def parse_args(argv):
    top = argparse.ArgumentParser(
        prog="vexfsd", description="The VexFS embedding sidecar: embeds the files the kernel "
        "asks for (run), a query (embed), or creates a space for its model (init-space).",
        epilog="Configuration, chunking, errors and logs: docs/VEXFSD.md.")
    top.add_argument("--version", action="version", version=f"vexfsd {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="serve the kernel's embedding requests",
                         description="Register for each configured (mount, space) and embed "
                         "the files the kernel sends until SIGTERM or SIGINT.")
    _backend_flags(run)
    run.add_argument("--mount", action=_MountAction, metavar="PATH",
                     help="a mounted VexFS volume (replaces the config's mounts)")
    run.add_argument("--space", action=_MountAction, metavar="NAME",
                     help="a space to serve on the preceding --mount (repeatable)")
    run.add_argument("--window", type=int, help="requests in flight per space (1..1024)")
    run.add_argument("--batch-size", type=int, help="chunks per model call")
    run.add_argument("--batch-wait-ms", type=int, help="how long to wait to fill a batch")
    run.add_argument("--timeout-ms", type=int, help="the kernel resends after this")
    run.add_argument("--adopt", action="store_true", default=None,
                     help="also serve spaces that record no model (dimension must match)")
    run.add_argument("--no-model-process", dest="model_process", action="store_false",
                     default=None, help="run the model in vexfsd's own process (by default "
                     "it runs in a child, overlapping vexfsd's file work)")
    run.add_argument("--log-format", choices=("json", "text"), help="default json")
    run.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                     help="default info")

    emb = sub.add_parser("embed", help="print the vector of a query text",
                         description="Embed TEXT (or standard input) as a query, as "
                         "`vexctl search` needs it.")
    _backend_flags(emb)
    emb.add_argument("--format", choices=("json", "f32"), default="json",
                     help="json: a JSON list (default); f32: little-endian binary32")
    emb.add_argument("--expect-model", metavar="MODEL",
                     help="fail (status 2) unless the backend's model is MODEL: the model "
                     "of the space searched (vexctl passes it)")
    emb.add_argument("text", nargs="*", help="the text (default: read standard input)")

    init = sub.add_parser("init-space", help="create a space for the backend's model",
                          description="Create space NAME on MOUNT with the dimension, metric, "
                          "model and version of the backend (needs CAP_SYS_ADMIN).")
    _backend_flags(init)
    init.add_argument("mount", metavar="MOUNT")
    init.add_argument("name", metavar="NAME")

    args = top.parse_args(argv)
    for m in getattr(args, "mounts", None) or []:
        if not m["spaces"]:
            top.error(f"--mount {m['path']} needs at least one --space")
    return args


def cmd_run(cfg, log):
    if not cfg["mounts"]:
        log("error", "no_mounts", msg="nothing to serve: give mounts in the configuration "
            "or --mount PATH --space NAME")
        return EXIT_USAGE
    backend = None
    try:
        if cfg["model_process"]:
            backend = ModelProcess(cfg["backend"])
        else:
            backend = make_backend(cfg["backend"])
        return Daemon(cfg, backend, SystemKernel(), log).run()
    except Refused as e:
        log("error", "refused", msg=str(e))
        return EXIT_USAGE
    except (OSError, BackendError) as e:
        log("error", "start_failed", msg=getattr(e, "strerror", None) or str(e))
        return EXIT_FAILURE
    finally:
        if backend:
            backend.close()


def cmd_embed(cfg, args):
    text = " ".join(args.text) if args.text else sys.stdin.read()
    text = " ".join(text.split())	# as chunks are: whitespace collapsed
    if not text:
        print("vexfsd embed: empty text", file=sys.stderr)
        return EXIT_USAGE
    if (args.expect_model == BuiltinBackend.model and args.backend is None
            and cfg["backend"]["backend"] != "builtin"):
        # the model-free embedder needs no setup: a space of its model is
        # queried with it whatever backend the files of other spaces use
        cfg["backend"] = {"backend": "builtin"}
    backend = make_backend(cfg["backend"])
    try:
        if args.expect_model is not None and args.expect_model != backend.model:
            print(f"vexfsd embed: the space is for model {args.expect_model!r}, but the "
                  f"{backend.name} backend embeds with {backend.model!r} (see --backend, "
                  f"--config)", file=sys.stderr)
            return EXIT_USAGE
        (vector,) = backend.embed([text])
    finally:
        backend.close()
    if args.format == "json":
        print(json.dumps(vector))
    else:
        out = array("f", vector)
        if sys.byteorder != "little":
            out.byteswap()
        sys.stdout.buffer.write(out.tobytes())
        sys.stdout.flush()
    return EXIT_OK


def cmd_init_space(cfg, args):
    backend = make_backend(cfg["backend"])
    try:
        fd = os.open(args.mount, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            info = vexfs.space_create(fd, args.name, backend.dim, backend.metric,
                                      backend.model, backend.model_version)
        finally:
            os.close(fd)
    except OSError as e:
        hint = {errno.EPERM: " (needs CAP_SYS_ADMIN)", errno.ENOTTY: " (not a VexFS mount)",
                errno.EEXIST: " (the space exists)"}.get(e.errno, "")
        print(f"vexfsd: {args.mount}: {e.strerror}{hint}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        backend.close()
    print(f"created space {info['name']} (id {info['space_id']}) on {args.mount}: "
          f"dim {info['dim']}, metric {vexfs.METRIC_NAMES[info['metric']]}, "
          f"model {info['model']} {info['model_version']}".rstrip())
    return EXIT_OK


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = config.apply_flags(config.load(args.config), args)
    except config.ConfigError as e:
        print(f"vexfsd: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "run":
        return cmd_run(cfg, Log(cfg["log_format"], cfg["log_level"]))
    try:
        if args.command == "embed":
            return cmd_embed(cfg, args)
        return cmd_init_space(cfg, args)
    except ValueError as e:		# a name that does not fit the ABI
        print(f"vexfsd: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BackendError as e:
        print(f"vexfsd: {e}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
