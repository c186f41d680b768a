# SPDX-License-Identifier: GPL-2.0
"""The model in a process of its own, so that vexfsd's file work overlaps it.

    backend = ModelProcess({"backend": "minilm"})   # the model loads in the child
    backend.send(texts)                              # returns at once
    ...select on backend.fileno()...
    for outcome in backend.receive(): ...            # vectors, or a BackendError
    backend.close()

vexfsd's own work per file (read by handle, extract, chunk, EMB_ADD) runs in
the daemon's process while the model embeds the previous batch in this one:
on a machine with two cores the filesystem's cost hides behind the model's
instead of adding to it.  A thread would not do: the builtin backend is pure
Python and holds the GIL.

Batches are answered in the order they were sent.  A batch the model fails
on is answered with its error and the next batches go on.  If the process
dies, every batch in flight fails and the next send() starts a new one.  The
child ignores SIGINT and SIGTERM (a terminal's ^C or systemd's stop reaches
the whole group): the daemon finishes the batches in flight and then closes
the pipe, which ends the child.
"""

import fcntl
import multiprocessing
import os
import queue
import signal
import threading
import time
from array import array

from .backends import Backend, BackendError, make_backend

START_TIMEOUT_S = 600.0		# loading a model from a cold disk under emulation
STOP_TIMEOUT_S = 5.0
F_SETPIPE_SZ = 1031			# linux/fcntl.h
PIPE_BYTES = 1 << 20			# the unprivileged maximum by default


def _grow_pipe(conn):
    """Room for a few batches in the pipe, so a send seldom waits (best effort)."""
    try:
        fcntl.fcntl(conn.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:
        pass


def _serve(cfg, requests, answers):
    """The child: build the backend, report what it makes, embed until EOF.

    A thread takes batches off the request pipe as they come, so that the
    daemon's send() never waits for the model: were both sides writing a
    full pipe to the other, neither would read."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        backend = make_backend(cfg)
        backend.warm_up()
    except Exception as e:		# BackendError, or an import failing
        answers.send(("error", str(e)))
        return
    todo = queue.SimpleQueue()

    def read():
        while True:
            try:
                todo.put(requests.recv())
            except (EOFError, OSError):
                todo.put(None)
                return

    try:
        answers.send(("ready", backend.info()))
        threading.Thread(target=read, name="vexfsd-model-in", daemon=True).start()
        while (texts := todo.get()) is not None:
            try:
                vectors = backend.embed(texts)
                dim = backend.dim
                if len(vectors) != len(texts) or any(len(v) != dim for v in vectors):
                    raise ValueError(f"{len(vectors)} vectors for {len(texts)} texts, or "
                                     f"not of dimension {dim}")
                flat = array("f")
                for v in vectors:
                    flat.extend(v)
            except Exception as e:	# reported per batch; the next ones go on
                answers.send(("error", str(e) or repr(e)))
                continue
            answers.send(("ok", flat))
    except OSError:			# the daemon is gone
        pass
    finally:
        backend.close()


def _child(cfg, requests, answers):
    """The forked child: nothing of the daemon's but the two pipes, then serve."""
    status = 1
    try:
        keep = {0, 1, 2, requests.fileno(), answers.fileno()}
        for fd in [int(name) for name in os.listdir("/proc/self/fd")]:
            if fd not in keep:		# netlink sockets, mount points...
                try:
                    os.close(fd)
                except OSError:		# the listing's own descriptor
                    pass
        _serve(cfg, requests, answers)
        status = 0
    finally:
        os._exit(status)		# never the daemon's own cleanups


def _reap(pid):
    """Wait for the child (killing it after STOP_TIMEOUT_S); how it ended."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return "already reaped"
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"status {os.waitstatus_to_exitcode(status)}"


class ModelProcess(Backend):
    """A backend whose embed() runs in a child process; also asynchronous."""

    def __init__(self, cfg):
        self.cfg = dict(cfg or {})
        self.pid = self.conn = self.requests = None
        self.in_flight = 0
        self.starts = 0			# processes started: a new pipe each time
        self._start()

    def _start(self):
        # A bare fork: multiprocessing.Process joins its children at exit,
        # which would wait for ever if the daemon exited without close().
        # Nothing heavy is loaded in the daemon: the model loads in the child.
        req_r, req_w = multiprocessing.Pipe(duplex=False)
        parent, child = multiprocessing.Pipe(duplex=False)	# answers
        for conn in (req_w, child):
            _grow_pipe(conn)
        pid = os.fork()
        if pid == 0:
            _child(self.cfg, req_r, child)
        req_r.close()
        child.close()				# EOF on parent once the child exits
        self.starts += 1
        try:
            if not parent.poll(START_TIMEOUT_S):
                raise BackendError("the model process did not start in "
                                   f"{START_TIMEOUT_S:.0f} s")
            kind, payload = parent.recv()
        except (EOFError, OSError):
            kind, payload = "error", "the model process exited"
        except BackendError as e:
            kind, payload = "error", str(e)
        if kind != "ready":
            parent.close()
            req_w.close()
            how = _reap(pid)
            raise BackendError(payload if payload != "the model process exited"
                               else f"{payload} ({how})")
        self.pid, self.conn, self.requests = pid, parent, req_w
        self.name, self.model = payload["backend"], payload["model"]
        self.model_version, self.dim = payload["model_version"], payload["dim"]
        self.metric = payload["metric"]

    def fileno(self):
        """Readable when a batch's answer (or the child's exit) is there."""
        return self.conn.fileno() if self.conn else None

    def send(self, texts):
        """Start embedding texts; restarts the process if it had died."""
        if self.conn is None:
            self._start()
        try:
            self.requests.send(list(texts))
        except OSError:		# it died: receive() reports this batch with the others
            pass
        self.in_flight += 1

    def poll(self, timeout=0.0):
        return self.conn is not None and self.in_flight > 0 and self.conn.poll(timeout)

    def receive(self):
        """The next answers, oldest first: a list of `dim`-float sequences per
        batch, or a BackendError.  Blocks until there is one.  If the process
        died, all batches in flight fail at once (none if it died idle: the
        next send() starts another)."""
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            lost, self.in_flight = self.in_flight, 0
            err = BackendError(f"the model process exited ({self._forget()})")
            return [err] * lost
        self.in_flight -= 1
        if kind == "error":
            return [BackendError(payload)]
        d = self.dim
        return [[payload[i:i + d] for i in range(0, len(payload), d)]]

    def embed(self, texts):
        """Synchronous use: one batch, nothing else in flight."""
        self.send(texts)
        out = self.receive()[0]
        if isinstance(out, BackendError):
            raise out
        return out

    def _forget(self):
        """Close the pipes, which ends the child, and reap it; how it ended."""
        pid = self.pid
        for conn in (self.requests, self.conn):
            if conn:
                conn.close()
        self.pid = self.conn = self.requests = None
        return _reap(pid) if pid else "not started"

    def close(self):
        self.in_flight = 0
        self._forget()
