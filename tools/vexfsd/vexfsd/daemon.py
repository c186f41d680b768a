# SPDX-License-Identifier: GPL-2.0
"""The sidecar loop: kernel requests in, embeddings out.

For each (mount, space) of the configuration the daemon checks that the
space records its backend's model, REGISTERs over generic netlink, and then
serves REQUESTs: open the file by handle, read, extract, chunk; chunks of
every pending file are batched into one backend.embed() call (up to
batch_size chunks, waiting at most batch_wait_ms for a batch to fill); a
file whose chunks all have vectors is submitted with EMB_ADD REPLACE_ALL,
expect_version = the request's data version, which completes the request.
Failures are answered with DONE and an errno (docs/VEXFSD.md lists them).

Everything the kernel does goes through a `kernel` object (SystemKernel
here; tests pass a fake with the same methods), so the loop runs without
VexFS.
"""

import collections
import datetime
import errno
import json
import math
import os
import selectors
import signal
import socket
import stat
import sys
import time
from array import array

from . import genl, vexfs
from .chunk import chunk_text
from .extract import ExtractError, extract

BACKOFF_FIRST = 1.0		# seconds after the first backend failure, doubling...
BACKOFF_MAX = 60.0		# ...up to this
MOUNT_CHECK = 5.0		# seconds between checks that a mount is still the same
# Batches an asynchronous backend (the model process) holds at once: one being
# embedded and the next one ready, so that the model never waits for vexfsd.
MODEL_DEPTH = 2
MESSAGE_MAX = 127		# DONE's MESSAGE, bytes (the kernel keeps 128 with the NUL)
# O_NONBLOCK: opening a FIFO must not hang (the kernel sends regular files only)
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
TRANSIENT = frozenset((errno.ESTALE, errno.EAGAIN, errno.EBUSY, errno.ENOMEM,
                       errno.ETIMEDOUT, errno.EINTR))

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class Refused(Exception):
    """A configured space cannot be served (its model differs...): exit status 2."""


# ---------------------------------------------------------------- logging

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Log:
    """Structured log lines on a stream: JSON objects, or `ts level event k=v...`."""

    def __init__(self, fmt="json", level="info", stream=None):
        self.fmt = fmt
        self.level = LEVELS[level]
        self.stream = stream or sys.stderr

    def __call__(self, level, event, **fields):
        if LEVELS[level] < self.level:
            return
        ts = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        ts = ts.replace("+00:00", "Z")
        if self.fmt == "json":
            line = json.dumps({"ts": ts, "level": level, "event": event, **fields},
                              ensure_ascii=False, separators=(",", ":"))
        else:
            parts = [ts, level, event]
            for key, value in fields.items():
                if value is None:
                    continue
                text = str(value)
                if not text or any(c.isspace() or c in '"=' for c in text):
                    text = json.dumps(text, ensure_ascii=False)
                parts.append(f"{key}={text}")
            line = " ".join(parts)
        self.stream.write(line + "\n")
        self.stream.flush()


# ---------------------------------------------------------------- the kernel

class Request:
    """One VEXFS_CMD_REQUEST: embed file `ino` at `data_version`."""

    FIELDS = (("dev", vexfs.ATTR_DEV, genl.get_u32),
              ("space", vexfs.ATTR_SPACE, genl.get_string),
              ("space_id", vexfs.ATTR_SPACE_ID, genl.get_u32),
              ("ino", vexfs.ATTR_INO, genl.get_u64),
              ("generation", vexfs.ATTR_GENERATION, genl.get_u32),
              ("data_version", vexfs.ATTR_DATA_VERSION, genl.get_u64),
              ("size", vexfs.ATTR_SIZE, genl.get_u64),
              ("handle_type", vexfs.ATTR_HANDLE_TYPE, genl.get_u32))

    def __init__(self, dev, space, space_id, ino, generation, data_version, size,
                 handle_type, handle):
        self.dev, self.space, self.space_id, self.ino = dev, space, space_id, ino
        self.generation, self.data_version, self.size = generation, data_version, size
        self.handle_type, self.handle = handle_type, handle

    @classmethod
    def from_attrs(cls, attrs):
        """None if an attribute is missing."""
        values = {name: get(attrs, atype) for name, atype, get in cls.FIELDS}
        values["handle"] = attrs.get(vexfs.ATTR_HANDLE)
        return None if None in values.values() else cls(**values)


def _clip(text, limit):
    return text.encode()[:limit].decode(errors="ignore")


class Channel:
    """One registration's generic netlink socket."""

    def __init__(self):
        self.sock = genl.GenlSocket(vexfs.GENL_NAME, vexfs.GENL_VERSION,
                                    unsolicited_cmds=(vexfs.CMD_REQUEST,))

    def fileno(self):
        return self.sock.fileno()

    def register(self, dev, space, model, model_version, window, timeout_ms):
        """-> the reply's {"space_id", "dim", "metric"} (None where absent)."""
        attrs = [(vexfs.ATTR_DEV, genl.u32(dev)), (vexfs.ATTR_SPACE, genl.string(space)),
                 (vexfs.ATTR_MODEL, genl.string(model)),
                 (vexfs.ATTR_WINDOW, genl.u32(window)),
                 (vexfs.ATTR_TIMEOUT_MS, genl.u32(timeout_ms))]
        if model_version:
            attrs.append((vexfs.ATTR_MODEL_VERSION, genl.string(model_version)))
        replies = self.sock.request(vexfs.CMD_REGISTER, attrs)
        got = replies[0].attrs if replies else {}
        return {"space_id": genl.get_u32(got, vexfs.ATTR_SPACE_ID),
                "dim": genl.get_u32(got, vexfs.ATTR_DIM),
                "metric": genl.get_u32(got, vexfs.ATTR_METRIC)}

    def unregister(self, dev, space):
        self.sock.request(vexfs.CMD_UNREGISTER, [(vexfs.ATTR_DEV, genl.u32(dev)),
                                                 (vexfs.ATTR_SPACE, genl.string(space))])

    def done(self, req, err, message):
        attrs = [(vexfs.ATTR_DEV, genl.u32(req.dev)), (vexfs.ATTR_SPACE_ID, genl.u32(req.space_id)),
                 (vexfs.ATTR_INO, genl.u64(req.ino)),
                 (vexfs.ATTR_DATA_VERSION, genl.u64(req.data_version)),
                 (vexfs.ATTR_ERRNO, genl.u32(err))]
        if message:
            attrs.append((vexfs.ATTR_MESSAGE, genl.string(_clip(message, MESSAGE_MAX))))
        self.sock.request(vexfs.CMD_DONE, attrs)

    def has_pending(self):
        return self.sock.has_pending()

    def receive(self):
        """Requests available now (malformed ones are dropped: the kernel resends)."""
        reqs = (Request.from_attrs(m.attrs) for m in self.sock.receive()
                if m.cmd == vexfs.CMD_REQUEST)
        return [r for r in reqs if r]

    def close(self):
        self.sock.close()


class SystemKernel:
    """The running kernel: VexFS ioctls, file handles, generic netlink."""

    def channel(self):
        return Channel()

    @staticmethod
    def _with_dir(path, fn):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return fn(fd)
        finally:
            os.close(fd)

    def mount_identity(self, path):
        """-> (st_dev, mount id): a new mount of the path has a new mount id."""
        return os.stat(path).st_dev, vexfs.name_to_handle(path)[2]

    def space_info(self, path, space):
        try:
            return self._with_dir(path, lambda fd: vexfs.space_info(fd, space))
        except OSError as e:
            if e.errno == errno.ENOTTY:
                raise OSError(e.errno, f"{path} is not a VexFS mount") from None
            raise

    def auto_status(self, path, space):
        return self._with_dir(path, lambda fd: vexfs.auto_status(fd, space))

    def _open(self, path, req):
        """The request's file, by handle on the mount (not held open: unmount must work)."""
        def by_handle(mount_fd):
            if os.fstat(mount_fd).st_dev != req.dev:
                raise OSError(errno.ESTALE, f"{path} is no longer the registered volume")
            return vexfs.open_by_handle(mount_fd, req.handle_type, req.handle, OPEN_FLAGS)
        return self._with_dir(path, by_handle)

    def read_file(self, path, req, max_bytes):
        """-> (content, file name or "", current data version or None)."""
        fd = self._open(path, req)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            too_big = OSError(errno.EFBIG, f"larger than max_file_bytes ({max_bytes})")
            if st.st_size > max_bytes:
                raise too_big
            with open(fd, "rb", closefd=False) as f:
                data = f.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise too_big
            try:	# a name only helps to tell HTML and Markdown: best effort
                name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                name = ""
            try:
                version = vexfs.data_version(fd, req.space)
            except OSError:
                version = None	# EMB_ADD checks it anyway
            return data, name, version
        finally:
            os.close(fd)

    def submit(self, path, req, dim, ranges, vectors):
        """EMB_ADD REPLACE_ALL, expect_version = the request's data version."""
        fd = self._open(path, req)
        try:
            vexfs.emb_add_replace(fd, req.space, dim, ranges, vectors, req.data_version)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- the daemon

class Registration:
    """One (mount, space) served; `channel` is None while not registered."""

    def __init__(self, path, space):
        self.path, self.space = path, space
        self.channel = None
        self.dev = self.mount_id = None
        self.retry_at = 0.0
        self.retry_delay = 0.0


class Job:
    """One request being worked on."""

    def __init__(self, reg, req, now):
        self.reg, self.req, self.started = reg, req, now
        self.chunks = []
        self.vectors = array("f")
        self.pending = 0		# chunks in the embedding queue
        self.nbytes = 0
        self.kind = None
        self.done = False


def _backoff(delay):
    return min(max(delay * 2, BACKOFF_FIRST), BACKOFF_MAX)


class Daemon:
    def __init__(self, cfg, backend, kernel, log, clock=time.monotonic):
        self.cfg, self.backend, self.kernel, self.log, self.clock = cfg, backend, kernel, log, clock
        self.regs = [Registration(m["path"], s) for m in cfg["mounts"] for s in m["spaces"]]
        self.jobs = {}			# (path, space, ino) -> Job
        self.queue = collections.deque()	# (job, chunk index, enqueue time)
        self.queued = 0			# live entries of queue
        self.backoff_until = 0.0
        self.backoff_delay = 0.0
        self.next_check = 0.0
        self.stopping = False		# first SIGTERM/SIGINT: finish and leave
        self.forced = False		# second: leave now
        self.selector = selectors.DefaultSelector()
        self.wake = None
        # The model process: send() returns at once and answers arrive on
        # fileno().  Other backends embed() in this process.
        self.model_async = callable(getattr(backend, "send", None))
        self.model_key = None		# (fd, start count) watched by the selector
        self.in_flight = collections.deque()	# batches sent, oldest first

    # -- startup

    def check_space(self, reg, info):
        """Why the backend cannot serve this space, or None."""
        b = self.backend
        where = f"space {reg.space!r} on {reg.path}"
        if info["dim"] != b.dim:
            return (f"{where} has dimension {info['dim']}; the {b.name} backend's model "
                    f"{b.model!r} makes {b.dim}")
        if not info["model"]:
            if self.cfg["adopt"]:
                return None
            return (f"{where} records no model; vexfsd serves only spaces made for its "
                    f"model {b.model!r} (create one with `vexfsd init-space`, or pass --adopt)")
        if info["model"] != b.model:
            return f"{where} is for model {info['model']!r}; this vexfsd embeds with {b.model!r}"
        if info["model_version"] and b.model_version and info["model_version"] != b.model_version:
            return (f"{where} is for {b.model} version {info['model_version']!r}; this "
                    f"vexfsd has version {b.model_version!r}")
        return None

    def start(self):
        """Check every space, then register them all.  Raises Refused (a space
        this backend cannot serve) or OSError."""
        problems = []
        for reg in self.regs:
            try:
                info = self.kernel.space_info(reg.path, reg.space)
            except OSError as e:
                problems.append(f"space {reg.space!r} on {reg.path}: {e.strerror}")
                continue
            why = self.check_space(reg, info)
            if why:
                problems.append(why)
            elif vexfs.METRIC_NAMES.get(info["metric"]) != self.backend.metric:
                self.log("warning", "metric_differs", mount=reg.path, space=reg.space,
                         space_metric=vexfs.METRIC_NAMES.get(info["metric"], info["metric"]),
                         model_metric=self.backend.metric)
        if problems:
            raise Refused("; ".join(problems))
        for reg in self.regs:
            try:
                self.connect(reg, fatal=True)
            except OSError as e:
                if e.errno != errno.EMEDIUMTYPE:	# the kernel's own model check
                    raise
                raise Refused(f"space {reg.space!r} on {reg.path}: {e.strerror}") from None
        self.next_check = self.clock() + MOUNT_CHECK

    def connect(self, reg, fatal=False):
        """REGISTER reg on a new socket.  On failure: raise if fatal, else retry later."""
        b = self.backend
        channel = None
        try:
            reg.dev, reg.mount_id = self.kernel.mount_identity(reg.path)
            why = self.check_space(reg, self.kernel.space_info(reg.path, reg.space))
            if why:
                raise OSError(errno.EMEDIUMTYPE, why)
            channel = self.kernel.channel()
            reply = channel.register(reg.dev, reg.space, b.model, b.model_version,
                                     self.cfg["window"], self.cfg["timeout_ms"])
            if reply["dim"] not in (None, b.dim):
                raise OSError(errno.EMEDIUMTYPE, f"the kernel says space {reg.space!r} has "
                              f"dimension {reply['dim']}, the model makes {b.dim}")
        except OSError as e:
            if channel:
                channel.close()
            if fatal:
                raise
            reg.retry_delay = _backoff(reg.retry_delay)
            reg.retry_at = self.clock() + reg.retry_delay
            self.log("warning", "register_failed", mount=reg.path, space=reg.space,
                     errno=e.errno, msg=e.strerror, retry_s=reg.retry_delay)
            return
        reg.channel, reg.retry_delay = channel, 0.0
        self.selector.register(channel, selectors.EVENT_READ, reg)
        fields = {}
        try:
            status = self.kernel.auto_status(reg.path, reg.space)
            fields = {"stale": status["stale"], "failed": status["failed"]}
        except OSError:
            pass
        self.log("info", "registered", mount=reg.path, space=reg.space, dev=reg.dev,
                 model=b.model, dim=b.dim, window=self.cfg["window"], **fields)

    def disconnect(self, reg, why):
        """Drop reg's socket (closing it unregisters) and register again soon."""
        if reg.channel:
            self.selector.unregister(reg.channel)
            reg.channel.close()
            reg.channel = None
        reg.retry_delay = _backoff(reg.retry_delay)
        reg.retry_at = self.clock() + reg.retry_delay
        self.log("warning", "disconnected", mount=reg.path, space=reg.space, msg=why,
                 retry_s=reg.retry_delay)

    # -- the loop

    def run(self):
        """Serve until SIGTERM/SIGINT; returns the exit status."""
        self.start()
        self._catch_signals()
        try:
            while not self.stopping:
                self.step(self._timeout())
        finally:
            self.shutdown()
        return EXIT_OK

    def _catch_signals(self):
        # The handler only sets flags; the wakeup fd makes select() return.
        r, w = socket.socketpair()
        r.setblocking(False)
        w.setblocking(False)
        self.wake = (r, w)
        self.selector.register(r, selectors.EVENT_READ, None)
        signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame):
        self.forced = self.stopping
        self.stopping = True

    def _timeout(self):
        now = self.clock()
        deadline = self.next_check
        for reg in self.regs:
            if not reg.channel:
                deadline = min(deadline, reg.retry_at)
            elif reg.channel.has_pending():
                return 0.0
        if self.queued and len(self.in_flight) < MODEL_DEPTH:
            ready = self.queue[0][2] + self.cfg["batch_wait_ms"] / 1000
            deadline = min(deadline, max(ready, self.backoff_until))
        return max(deadline - now, 0.0)

    def step(self, timeout=0.0):
        """Wait up to timeout for requests, then do whatever is due."""
        ready = set()
        self._watch_model()
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                try:
                    key.fileobj.recv(4096)
                except BlockingIOError:
                    pass
            else:
                ready.add(key.data)
        if self.stopping:
            return
        if "model" in ready:
            self.collect()
        for reg in self.regs:
            # Requests read while DONE waited for its ack are not "readable".
            if reg.channel and (reg in ready or reg.channel.has_pending()):
                self.receive(reg)
        now = self.clock()
        if now >= self.next_check:
            self.next_check = now + MOUNT_CHECK
            self.check_mounts()
        for reg in self.regs:
            if not reg.channel and now >= reg.retry_at:
                self.connect(reg)
        self.flush()

    def check_mounts(self):
        for reg in self.regs:
            if not reg.channel:
                continue
            try:
                same = self.kernel.mount_identity(reg.path) == (reg.dev, reg.mount_id)
            except OSError:
                same = False
            if not same:
                self.disconnect(reg, f"{reg.path} is no longer the volume it was")

    def receive(self, reg):
        try:
            reqs = reg.channel.receive()
        except OSError as e:
            if e.errno == errno.ENOBUFS:	# the kernel resends what was dropped
                self.log("warning", "requests_dropped", mount=reg.path, space=reg.space,
                         msg="socket receive buffer overflowed")
            else:
                self.disconnect(reg, f"receive: {e.strerror}")
            return
        for req in reqs:
            self.accept(reg, req)

    def accept(self, reg, req):
        """A new request.  The kernel has one request per file and space at a time,
        so a request for a file being worked on replaces the old one (sent again
        after its timeout): the work is kept if the data version is the same."""
        key = (reg.path, reg.space, req.ino)
        old = self.jobs.get(key)
        if old and old.req.data_version == req.data_version:
            old.req = req
            return
        if old:
            self._drop(old)
        job = Job(reg, req, self.clock())
        self.jobs[key] = job
        self.prepare(job)

    def prepare(self, job):
        """Read, extract and chunk the file; queue its chunks for the model."""
        reg, req, cfg = job.reg, job.req, self.cfg
        try:
            data, name, version = self.kernel.read_file(reg.path, req, cfg["max_file_bytes"])
        except OSError as e:
            return self.finish(job, e.errno or errno.EIO, e.strerror or str(e))
        job.nbytes = len(data)
        if version is not None and version != req.data_version:
            return self.finish(job, errno.ESTALE, "changed since the request")
        try:
            job.kind, text = extract(data, name, cfg["pdftotext_timeout_s"])
            job.chunks = chunk_text(text, cfg["chunk_size"], cfg["chunk_overlap"])
        except ExtractError as e:
            return self.finish(job, e.errno, str(e))
        except Exception as e:		# a bug on one file must not stop the others
            return self.finish(job, errno.EIO, f"extraction failed: {e!r}")
        limit = min(vexfs.BATCH_MAX, vexfs.BATCH_BYTES_MAX // (4 * self.backend.dim))
        if len(job.chunks) > limit:
            return self.finish(job, errno.EFBIG, f"{len(job.chunks)} chunks, more than the "
                               f"{limit} one EMB_ADD takes")
        if not job.chunks:
            return self.submit(job)
        now = self.clock()
        self.queue.extend((job, i, now) for i in range(len(job.chunks)))
        job.pending = len(job.chunks)
        self.queued += job.pending

    def _drop(self, job):
        job.done = True
        self.queued -= job.pending
        job.pending = 0
        key = (job.reg.path, job.reg.space, job.req.ino)
        if self.jobs.get(key) is job:
            del self.jobs[key]

    def _watch_model(self):
        """Keep the selector on the model process's pipe (a new one after a restart)."""
        if not self.model_async:
            return
        fd = self.backend.fileno()
        key = None if fd is None else (fd, self.backend.starts)
        if key == self.model_key:
            return
        if self.model_key:
            self.selector.unregister(self.model_key[0])
        if key:
            self.selector.register(fd, selectors.EVENT_READ, "model")
        self.model_key = key

    def flush(self, final=False):
        """Embed the batches that are due (final: all of them, now)."""
        while self.queued and not self.forced and len(self.in_flight) < MODEL_DEPTH:
            now = self.clock()
            if now < self.backoff_until:
                return
            wait = self.cfg["batch_wait_ms"] / 1000
            if not final and self.queued < self.cfg["batch_size"] and \
                    now < self.queue[0][2] + wait:
                return
            batch = []
            while self.queue and len(batch) < self.cfg["batch_size"]:
                job, i, _ = self.queue.popleft()
                if not job.done:
                    batch.append((job, i))
            self.embed(batch)
            while self.queue and self.queue[0][0].done:	# keep queue[0] live for _timeout
                self.queue.popleft()

    def embed(self, batch):
        """Hand a batch to the model: its vectors now, or from collect() later."""
        for job, n in collections.Counter(job for job, _ in batch).items():
            job.pending -= n
        self.queued -= len(batch)
        texts = [job.chunks[i].text for job, i in batch]
        try:
            if self.model_async:
                self.backend.send(texts)
                self.in_flight.append(batch)
                return
            vectors = self.backend.embed(texts)
        except Exception as e:		# BackendError, or a broken model: both retried
            vectors = e
        self.embedded(batch, vectors)

    def collect(self):
        """Answers of the model process, oldest batch first."""
        for outcome in self.backend.receive():
            self.embedded(self.in_flight.popleft(), outcome)

    def drain(self):
        """Embed everything queued and wait for the answers (stopping)."""
        while (self.queued or self.in_flight) and not self.forced:
            self.flush(final=True)
            if self.clock() < self.backoff_until:
                return			# the backend is down: the rest is answered EAGAIN
            if self.in_flight and self.backend.poll(0.2):	# ^C again ends the wait
                self.collect()

    def embedded(self, batch, vectors):
        """A batch's vectors, or the exception that replaced them."""
        try:
            if isinstance(vectors, Exception):
                raise vectors
            if len(vectors) != len(batch) or any(len(v) != self.backend.dim for v in vectors):
                raise ValueError(f"{len(vectors)} vectors for {len(batch)} texts, or not "
                                 f"of dimension {self.backend.dim}")
        except Exception as e:		# BackendError, or a broken model: both retried
            self.backoff_delay = _backoff(self.backoff_delay)
            self.backoff_until = self.clock() + self.backoff_delay
            self.log("warning", "backend_error", backend=self.backend.name, msg=str(e),
                     retry_s=self.backoff_delay)
            for job in dict.fromkeys(job for job, _ in batch):
                if not job.done:	# replaced meanwhile: the new request goes on
                    self.finish(job, errno.EAGAIN, f"embedding backend: {e}")
            return
        self.backoff_delay = 0.0
        for (job, i), vec in zip(batch, vectors):
            if job.done:
                continue
            if not all(map(math.isfinite, vec)):
                self.finish(job, errno.EINVAL, "the model returned a non-finite value")
                continue
            job.vectors.extend(vec)
            if len(job.vectors) == len(job.chunks) * self.backend.dim:
                self.submit(job)

    def submit(self, job):
        ranges = [(c.offset, c.length) for c in job.chunks]
        try:
            self.kernel.submit(job.reg.path, job.req, self.backend.dim, ranges, job.vectors)
        except OSError as e:
            return self.finish(job, e.errno or errno.EIO, f"EMB_ADD: {e.strerror or e}")
        self.finish(job, 0, None)

    def finish(self, job, err, message):
        """The request's outcome: DONE unless it succeeded, and one log line."""
        self._drop(job)
        reg, req = job.reg, job.req
        if err and reg.channel:
            try:
                reg.channel.done(req, err, message)
            except OSError as e:		# the kernel forgot it (unmount...): nothing to do
                self.log("debug", "done_refused", ino=req.ino, errno=e.errno, msg=e.strerror)
        level = "info" if err in TRANSIENT or not err else "warning"
        fields = {"mount": reg.path, "space": reg.space, "ino": req.ino,
                  "dv": req.data_version, "kind": job.kind, "chunks": len(job.chunks),
                  "bytes": job.nbytes, "ms": round((self.clock() - job.started) * 1000),
                  "errno": err}
        if err:
            fields["error"] = errno.errorcode.get(err, str(err))
        self.log(level, "file", **fields, msg=message)

    # -- shutdown

    def shutdown(self):
        """Finish what was read (unless forced or the backend is down), answer the
        rest with EAGAIN, unregister, close."""
        self.stopping = True
        if self.clock() >= self.backoff_until:
            self.drain()
        for job in list(self.jobs.values()):
            self.finish(job, errno.EAGAIN, "vexfsd is stopping")
        for reg in self.regs:
            if reg.channel:
                try:
                    reg.channel.unregister(reg.dev, reg.space)
                except OSError as e:
                    self.log("debug", "unregister_failed", space=reg.space, msg=e.strerror)
                self.selector.unregister(reg.channel)
                reg.channel.close()
                reg.channel = None
        if self.wake:
            signal.set_wakeup_fd(-1)
            for s in self.wake:
                s.close()
        self.selector.close()
        self.backend.close()
        self.log("info", "stopped")
