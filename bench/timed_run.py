"""Run one leecher under the benchmark's own clock and memory sampler.

usage: timed_run.py --result FILE --log FILE --timeout SECS
                    (--done-line TEXT | --done-file PATH) [--ready-line TEXT]
                    -- COMMAND [ARG]...

The same measurement for every client:
- The clock is this script's `time.monotonic()`: it starts just before
  COMMAND is spawned and stops at the client's own "every piece verified"
  signal: the first output line (stdout or stderr) containing --done-line,
  or the file --done-file appearing (Transmission's torrent-done script).
  The line is read as it is written (no polling); the file is looked for
  every 10 ms.
- CPU seconds are the process's user and system time (all its threads,
  from /proc/PID/stat) at that moment: teardown after completion is not
  counted for anyone.
- Memory: the peak total RSS (the kernel's VmHWM) and the peak anonymous
  RSS (RssAnon from /proc/PID/status, sampled every 20 ms to a peak). The
  anonymous figure leaves out file-backed pages, such as the pages of a
  client that maps the torrent's files into memory (libtorrent 2.0), which
  the total counts.
- --ready-line: also report when a line containing it appeared (seconds
  from spawn), for the client's own start-up cost.

Once done the process gets SIGTERM (SIGKILL after 10 s). Writes one JSON
line to --result: seconds, ready_seconds, cpu_user, cpu_sys,
rss_peak_kib, rss_anon_peak_kib, rss_file_peak_kib; exits 0. If the
process exits before it is done, or --timeout passes first, prints why on
stderr and exits 1 (killing the process). COMMAND's output goes to --log.
Run with /usr/bin/python3.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def status_kib(pid):
    """VmHWM, VmRSS, RssAnon, RssFile of pid in KiB (missing ones 0)."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError):
        pass
    return out


def cpu_seconds(pid):
    """(user, system) CPU seconds of pid, or None once it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields after the command name start at field 3 (state).
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def die_with_parent():
    """In the child: get SIGKILL when this script dies, however it dies."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def main():
    # SIGTERM ends this script like Ctrl-C does, and so (see below) its child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    p = argparse.ArgumentParser()
    p.add_argument("--result", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--done-line")
    p.add_argument("--done-file")
    p.add_argument("--ready-line")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd or not (a.done_line or a.done_file):
        p.error("a command and --done-line or --done-file are needed")

    log = open(a.log, "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
    done = threading.Event()
    marks = {}

    def read_output():
        for line in proc.stdout:
            now = time.monotonic()
            log.write(line)
            log.flush()
            text = line.decode("utf-8", "replace")
            if a.ready_line and "ready" not in marks and a.ready_line in text:
                marks["ready"] = now
            if a.done_line and "done" not in marks and a.done_line in text:
                marks["done"] = now
                marks["cpu"] = cpu_seconds(proc.pid)
                done.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()

    peak = {"VmHWM": 0, "VmRSS": 0, "RssAnon": 0, "RssFile": 0}
    failure = None
    last_sample = 0.0
    while not done.is_set():
        now = time.monotonic()
        if now - last_sample >= 0.02:
            last_sample = now
            for k, v in status_kib(proc.pid).items():
                peak[k] = max(peak[k], v)
        if a.done_file and os.path.exists(a.done_file):
            marks["done"] = time.monotonic()
            marks["cpu"] = cpu_seconds(proc.pid)
            done.set()
            break
        if proc.poll() is not None:
            reader.join(timeout=2)
            if done.is_set():
                break
            failure = "exited with status %d before completing" % proc.returncode
            break
        if now - t0 > a.timeout:
            failure = "not complete after %.0f s" % a.timeout
            break
        done.wait(0.01)

    if done.is_set():
        for k, v in status_kib(proc.pid).items():
            peak[k] = max(peak[k], v)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    reader.join(timeout=5)
    log.close()
    if failure or not done.is_set():
        print("leecher %s: %s (log: %s)" % (cmd[0], failure or "did not complete", a.log),
              file=sys.stderr)
        return 1
    user, system = marks.get("cpu") or (float("nan"), float("nan"))
    result = {
        "seconds": marks["done"] - t0,
        "ready_seconds": (marks["ready"] - t0) if "ready" in marks else None,
        "cpu_user": user,
        "cpu_sys": system,
        "rss_peak_kib": max(peak["VmHWM"], peak["VmRSS"]),
        "rss_anon_peak_kib": peak["RssAnon"],
        "rss_file_peak_kib": peak["RssFile"],
    }
    with open(a.result, "w") as f:
        f.write(json.dumps(result) + "\n")
    return 0


sys.exit(main())
