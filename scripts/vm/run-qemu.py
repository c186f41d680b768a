#!/usr/bin/env python3
"""Run one QEMU guest for scripts/vm-exec and decide its exit status.

    run-qemu.py --timeout S --log FILE [--label TEXT] -- QEMU_ARGV...

Adds the guest's character devices to QEMU_ARGV, all backed by pipes whose
write ends only QEMU holds (so every reader sees EOF when QEMU is gone):

    ttyS0 (console)        -> FILE (the full kernel log), scanned for problems;
                              lines mentioning vexfs are copied to stderr live
    virtio port vm.stdout  -> our stdout, live
    virtio port vm.stderr  -> our stderr, live
    virtio port vm.ctl     -> protocol lines from guest-init (started / exit N /
                              error TEXT / insmod-failed TEXT)

Exit status (documented in docs/VM-HARNESS.md):
    N    the command's own status (0-255)
    200  guest stopped without reporting a status (power cut / reboot)
    201  the guest kernel logged a problem (oops, BUG, WARNING, panic, ...)
    202  timeout: QEMU was killed
    203  harness failure (QEMU failed, the guest did not boot, ...)
    204  vexfs.ko could not be loaded (insmod failed)
"""

import fcntl
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import time

EXIT_POWER_CUT = 200
EXIT_KERNEL = 201
EXIT_TIMEOUT = 202
EXIT_HARNESS = 203
EXIT_INSMOD = 204

# (name, regex) checked against every kernel log line.
PROBLEMS = [
    ("panic", re.compile(r"Kernel panic")),
    ("oops", re.compile(r"\bOops\b")),
    ("BUG", re.compile(r"\bBUG: |kernel BUG at")),
    ("WARNING", re.compile(r"\bWARNING:")),
    ("hung task", re.compile(r"INFO: task \S+ blocked for more than|hung_task: blocked tasks")),
    ("soft lockup", re.compile(r"soft lockup")),
    ("hard lockup", re.compile(r"hard LOCKUP")),
    ("KASAN report", re.compile(r"KASAN")),
    ("KFENCE report", re.compile(r"KFENCE: ")),
    ("UBSAN report", re.compile(r"UBSAN:")),
    ("general protection fault", re.compile(r"general protection fault")),
    ("kernel page fault", re.compile(r"unable to handle (kernel|page)")),
]
# Lines written by our own guest init are never problems (they may quote
# user text).
IGNORE = re.compile(r"vm-init: ")
VEXFS = re.compile(r"vexfs", re.IGNORECASE)
F_SETPIPE_SZ = 1031


def _die_with_parent():
    """In the QEMU child: get SIGKILL if this supervisor dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def msg(text):
    sys.stderr.write("vm-exec: %s\n" % text)
    sys.stderr.flush()


def main():
    argv = sys.argv[1:]
    timeout = 600.0
    log_path = None
    label = ""
    while argv and argv[0] != "--":
        opt = argv.pop(0)
        if opt == "--timeout":
            timeout = float(argv.pop(0))
        elif opt == "--log":
            log_path = argv.pop(0)
        elif opt == "--label":
            label = argv.pop(0)
        else:
            msg("run-qemu.py: bad option %s" % opt)
            return EXIT_HARNESS
    if not argv or log_path is None:
        msg("run-qemu.py: usage: --timeout S --log FILE -- QEMU...")
        return EXIT_HARNESS
    qemu = argv[1:]

    chans = {}  # name -> (read_fd, write_fd)
    for name in ("console", "stdout", "stderr", "ctl"):
        r, w = os.pipe()
        try:
            fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        chans[name] = (r, w)

    def path(name):
        return "/dev/fd/%d" % chans[name][1]

    qemu += [
        "-chardev", "file,id=con,path=%s" % path("console"),
        "-serial", "chardev:con",
        "-device", "virtio-serial-pci,id=vser",
        "-chardev", "file,id=out,path=%s" % path("stdout"),
        "-device", "virtserialport,bus=vser.0,chardev=out,name=vm.stdout",
        "-chardev", "file,id=err,path=%s" % path("stderr"),
        "-device", "virtserialport,bus=vser.0,chardev=err,name=vm.stderr",
        "-chardev", "file,id=ctl,path=%s" % path("ctl"),
        "-device", "virtserialport,bus=vser.0,chardev=ctl,name=vm.ctl",
    ]

    qemu_err_path = log_path + ".qemu-stderr"
    log = open(log_path, "wb")
    log.write(("# vm-exec %s\n# qemu: %s\n" % (label, shlex.join(qemu))).encode())
    log.flush()
    qemu_err = open(qemu_err_path, "wb")

    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            qemu,
            stdin=subprocess.DEVNULL,
            stdout=qemu_err,
            stderr=qemu_err,
            pass_fds=[w for (_, w) in chans.values()],
            start_new_session=True,  # terminal ^C goes to us, not QEMU
            preexec_fn=_die_with_parent,
        )
    except OSError as e:
        msg("cannot start QEMU: %s" % e)
        return EXIT_HARNESS
    for r, w in chans.values():
        os.close(w)

    def kill_qemu(sig=signal.SIGKILL):
        if proc.poll() is None:
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass

    interrupted = []

    def on_signal(signum, _frame):
        interrupted.append(signum)
        kill_qemu()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    sel = selectors.DefaultSelector()
    for name, (r, _) in chans.items():
        sel.register(r, selectors.EVENT_READ, name)

    out = sys.stdout.buffer
    err = sys.stderr.buffer
    con_buf = b""
    ctl_buf = b""
    log_lines = []  # decoded console lines
    problems = []  # (index into log_lines, category)
    ctl = []  # protocol lines
    t_started = None
    t_exit = None
    timed_out = False
    panic_seen_at = None
    open_fds = len(chans)

    def console_line(raw):
        line = raw.decode("utf-8", "replace").rstrip("\r")
        log_lines.append(line)
        nonlocal panic_seen_at
        if IGNORE.search(line):
            return
        for cat, rx in PROBLEMS:
            if rx.search(line):
                problems.append((len(log_lines) - 1, cat))
                if cat == "panic" and panic_seen_at is None:
                    panic_seen_at = time.monotonic()
                break
        if VEXFS.search(line):
            try:
                err.write(b"vm-kernel: " + line.encode("utf-8", "replace") + b"\n")
                err.flush()
            except OSError:
                pass

    def safe_write(stream, data):
        try:
            stream.write(data)
            stream.flush()
        except (OSError, ValueError):
            pass  # our reader went away; keep draining the guest

    while open_fds:
        now = time.monotonic()
        wait = 0.5
        if not timed_out and now - t0 > timeout:
            timed_out = True
            kill_qemu()
        # A panic should reset the guest at once (panic=-1, -no-reboot);
        # a guest that reported its status should power off promptly.
        if panic_seen_at is not None and now - panic_seen_at > 15:
            kill_qemu()
        if t_exit is not None and now - t_exit > 30:
            kill_qemu()
        for key, _ in sel.select(wait):
            fd = key.fd
            name = key.data
            try:
                data = os.read(fd, 65536)
            except InterruptedError:
                continue
            if not data:
                sel.unregister(fd)
                os.close(fd)
                open_fds -= 1
                continue
            if name == "stdout":
                safe_write(out, data)
            elif name == "stderr":
                safe_write(err, data)
            elif name == "console":
                log.write(data)
                log.flush()
                con_buf += data
                *lines, con_buf = con_buf.split(b"\n")
                for raw in lines:
                    console_line(raw)
            elif name == "ctl":
                ctl_buf += data
                *lines, ctl_buf = ctl_buf.split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace")
                    ctl.append(line)
                    if line == "started" and t_started is None:
                        t_started = time.monotonic()
                    if line.startswith("exit ") and t_exit is None:
                        t_exit = time.monotonic()
    if con_buf:
        console_line(con_buf)
    try:
        rc_qemu = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_qemu()
        rc_qemu = proc.wait()
    t_end = time.monotonic()
    log.write(
        (
            "\n# vm-exec: qemu exit %s; command started at %s s; guest stopped at %.2f s\n"
            % (
                rc_qemu,
                "%.2f" % (t_started - t0) if t_started else "never",
                t_end - t0,
            )
        ).encode()
    )
    log.close()
    qemu_err.close()
    if os.environ.get("VM_EXEC_VERBOSE"):
        msg(
            "boot to command: %s s, total %.2f s; guest kernel log: %s"
            % ("%.2f" % (t_started - t0) if t_started else "-", t_end - t0, log_path)
        )

    # ---- decide
    status = None
    errors = [l[6:] for l in ctl if l.startswith("error ")]
    insmod = [l[14:] for l in ctl if l.startswith("insmod-failed ")]
    for l in ctl:
        if l.startswith("exit "):
            try:
                status = int(l[5:])
            except ValueError:
                pass

    def show_log_path():
        msg("full guest kernel log: %s" % log_path)

    def show_tail(n=30):
        for line in log_lines[-n:]:
            sys.stderr.write("  | %s\n" % line)
        show_log_path()

    if interrupted:
        msg("interrupted (signal %d); QEMU killed" % interrupted[0])
        show_log_path()
        return 128 + interrupted[0]

    if problems:
        cats = []
        for _, c in problems:
            if c not in cats:
                cats.append(c)
        msg("guest kernel reported a problem: %s" % ", ".join(cats))
        shown = set()
        budget = 150
        for idx, _ in problems:
            if idx in shown:
                continue
            first = idx == problems[0][0]
            lo = max(0, idx - 2) if first else idx
            hi = min(len(log_lines), idx + (40 if first else 1))
            for i in range(lo, hi):
                if i in shown or budget <= 0:
                    continue
                shown.add(i)
                budget -= 1
                sys.stderr.write("  | %s\n" % log_lines[i])
        if timed_out:
            msg("also: timeout after %g s (QEMU killed)" % timeout)
        elif status is not None:
            msg("(the command itself exited with status %d)" % status)
        show_log_path()
        return EXIT_KERNEL

    if timed_out:
        where = "while running the command" if t_started else "before the command started"
        msg("timeout: guest did not finish within %g s (%s); QEMU killed" % (timeout, where))
        msg("last kernel log lines:")
        show_tail(15)
        return EXIT_TIMEOUT

    if insmod:
        msg("could not load the module: %s" % insmod[0])
        show_tail()
        return EXIT_INSMOD

    if errors:
        msg("guest setup failed: %s" % errors[0])
        show_tail()
        return EXIT_HARNESS

    if status is not None:
        return status

    if t_started is None:
        msg("guest stopped before the command started (QEMU exit status %s)" % rc_qemu)
        try:
            with open(qemu_err_path, "rb") as f:
                qe = f.read().decode("utf-8", "replace").strip()
            if qe:
                for line in qe.splitlines()[-20:]:
                    sys.stderr.write("  qemu: %s\n" % line)
        except OSError:
            pass
        show_tail()
        return EXIT_HARNESS

    msg("guest stopped without reporting a status (power cut?)")
    show_log_path()
    return EXIT_POWER_CUT


if __name__ == "__main__":
    sys.exit(main())
