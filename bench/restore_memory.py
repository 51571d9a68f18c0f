#!/usr/bin/env python3
"""Server memory while backing up and restoring a large vault (driven by bench/restore_memory.sh).

Standard library only. Steps, each printing one JSON line on stdout:

  seed     N secrets x V versions of S bytes into vault SRC (concurrent PUTs)
  backup   POST /backup on SRC, waits for the job; RSS growth while it runs
  restore  PUT /restore?backupId=JOB on DST, waits; RSS growth while it runs, and (--probe-vault) the latency
           of writes into another vault meanwhile
  verify   backs DST up and compares its manifest digest with SRC's

RSS growth of a step: before it, the server's peak RSS is reset to its current
RSS (writing 5 to /proc/PID/clear_refs); after it, growth = VmHWM - VmRSS at
the start. A sampler also records VmRSS every 50 ms (peak and last value).
"""

import argparse
import http.client
import json
import os
import ssl
import sys
import threading
import time

API = "api-version=7.5"


class Fail(Exception):
    pass


class Client:
    """One keep-alive HTTPS connection to 127.0.0.1, addressing a vault by Host header."""

    def __init__(self, port, cafile, token, host):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=cafile)
        # The certificate names localhost and *.vault.localhost; we connect to 127.0.0.1 and name the vault in
        # the Host header, so only the chain is checked.
        self.ctx.check_hostname = False
        self.token = token
        self.host = host
        self.conn = None

    def call(self, method, path, body=None, expect=(200,), raw_body=None):
        headers = {"Authorization": f"Bearer {self.token}", "Host": f"{self.host}:{self.port}"}
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=600)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if resp.status not in expect:
            raise Fail(f"{method} {path} -> {resp.status}: {raw[:500]!r}")
        return resp.status, (json.loads(raw) if raw else None)


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Fail(f"no {field} in /proc/{pid}/status")


class Sampler:
    """Peak and last VmRSS every 50 ms, and VmHWM growth since start (after resetting the peak)."""

    def __init__(self, pid):
        self.pid = pid
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        self.start_rss = status_kb(pid, "VmRSS")
        self.peak = self.start_rss
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t0 = time.monotonic()
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, status_kb(self.pid, "VmRSS"))
            except (OSError, Fail):
                return
            time.sleep(0.05)

    def finish(self):
        self.stop.set()
        self.t.join()
        hwm = status_kb(self.pid, "VmHWM")
        end = status_kb(self.pid, "VmRSS")
        return {
            "seconds": round(time.monotonic() - self.t0, 2),
            "rss_start_kb": self.start_rss,
            "rss_end_kb": end,
            "hwm_kb": hwm,
            "growth_kb": hwm - self.start_rss,
            "sampled_peak_kb": self.peak,
        }


def value_of(size, i):
    """A printable value of exactly `size` bytes that differs from one version to the next."""
    seed = f"{i:012d}-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return (seed * (size // len(seed) + 1))[:size]


def cmd_seed(a):
    jobs = [(s, v) for v in range(a.versions) for s in range(a.secrets)]
    lock = threading.Lock()
    errors = []
    t0 = time.monotonic()

    def worker(k):
        c = Client(a.port, a.cafile, a.token, f"{a.vault}.vault.localhost")
        for idx in range(k, len(jobs), a.concurrency):
            s, v = jobs[idx]
            try:
                c.call("PUT", f"/secrets/s{s:05d}?{API}", {"value": value_of(a.size, idx)})
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(str(e))
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise Fail(errors[0])
    print(json.dumps({"step": "seed", "secrets": a.secrets, "versions": a.versions, "value_bytes": a.size,
                      "writes": len(jobs), "plaintext_bytes": len(jobs) * a.size,
                      "seconds": round(time.monotonic() - t0, 1)}))


def wait_job(c, kind, job):
    while True:
        _, st = c.call("GET", f"/{kind}/{job}/pending?{API}")
        if st["status"] != "InProgress":
            return st
        time.sleep(0.2)


def backup(a, vault):
    c = Client(a.port, a.cafile, a.token, f"{vault}.vault.localhost")
    _, st = c.call("POST", f"/backup?{API}", {}, expect=(202,))
    st = wait_job(c, "backup", st["jobId"])
    if st["status"] != "Succeeded":
        raise Fail(f"backup of {vault}: {st}")
    return st


def cmd_backup(a):
    s = Sampler(a.pid)
    st = backup(a, a.vault)
    m = s.finish()
    print(json.dumps({"step": "backup", "job": st["jobId"], "bytes": st["bytes"], "objects": st["objects"],
                      "versions": st["versions"], "digest": st["manifest"]["digest"], **m}))


class Prober:
    """Writes one small secret into another vault every 100 ms while a step runs; keeps each write's latency."""

    def __init__(self, a, vault):
        self.c = Client(a.port, a.cafile, a.token, f"{vault}.vault.localhost")
        self.lat = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        i = 0
        while not self.stop.is_set():
            t0 = time.monotonic()
            self.c.call("PUT", f"/secrets/probe?{API}", {"value": f"probe-{i}"})
            self.lat.append(time.monotonic() - t0)
            i += 1
            time.sleep(0.1)

    def finish(self):
        self.stop.set()
        self.t.join()
        xs = sorted(self.lat)
        return {"other_vault_writes": len(xs),
                "other_vault_write_p50_ms": round(1000 * xs[len(xs) // 2], 1) if xs else None,
                "other_vault_write_max_ms": round(1000 * xs[-1], 1) if xs else None}


def cmd_restore(a):
    c = Client(a.port, a.cafile, a.token, f"{a.vault}.vault.localhost")
    s = Sampler(a.pid)
    probe = Prober(a, a.probe_vault) if a.probe_vault else None
    _, st = c.call("PUT", f"/restore?{API}&backupId={a.backup_id}", raw_body=b"", expect=(202,))
    st = wait_job(c, "restore", st["jobId"])
    m = s.finish()
    if probe:
        m.update(probe.finish())
    if st["status"] != "Succeeded":
        raise Fail(f"restore: {st.get('error')}")
    r = st["report"]
    print(json.dumps({"step": "restore", "restored": r["restored"], "versions_written": r["versionsWritten"], **m}))


def cmd_verify(a):
    st = backup(a, a.vault)
    ok = st["manifest"]["digest"] == a.digest
    print(json.dumps({"step": "verify", "vault": a.vault, "digest": st["manifest"]["digest"], "matches": ok}))
    if not ok:
        raise Fail("the restored vault does not hold what the source held")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--token", default=os.environ.get("KH_TOKEN"))
    p.add_argument("--pid", type=int)
    p.add_argument("--vault", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--secrets", type=int, required=True)
    s.add_argument("--versions", type=int, required=True)
    s.add_argument("--size", type=int, required=True)
    s.add_argument("--concurrency", type=int, default=16)
    sub.add_parser("backup")
    s = sub.add_parser("restore")
    s.add_argument("--backup-id", required=True)
    s.add_argument("--probe-vault", help="write a small secret into this vault every 100 ms meanwhile")
    s = sub.add_parser("verify")
    s.add_argument("--digest", required=True)
    a = p.parse_args()
    try:
        {"seed": cmd_seed, "backup": cmd_backup, "restore": cmd_restore, "verify": cmd_verify}[a.cmd](a)
    except Fail as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
