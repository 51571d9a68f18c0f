#!/usr/bin/env python3
"""Seeding, many-version and backup/restore steps of bench/secrets.sh.

Standard library only. Every step prints one JSON object on stdout and exits
non-zero (with the failing status and body on stderr) if the server answers
anything unexpected, so the calling script never reports figures from a
broken run.

Servers:
  keyhaven  Azure Key Vault data plane over TLS:
            PUT /secrets/{name}?api-version=7.5  {"value": ...}
  openbao   KV v2 mounted at secret/:
            POST /v1/secret/data/{name}           {"data": {"value": ...}}
"""

import argparse
import http.client
import json
import ssl
import statistics
import sys
import threading
import time
import urllib.parse

API = "api-version=7.5"


class Fail(Exception):
    pass


class Client:
    """One keep-alive HTTP/1.1 connection (per thread)."""

    def __init__(self, base, auth_header, auth_value, cafile=None, timeout=120):
        u = urllib.parse.urlsplit(base)
        self.host = u.hostname
        self.port = u.port
        self.https = u.scheme == "https"
        self.headers = {auth_header: auth_value, "Content-Type": "application/json"}
        self.timeout = timeout
        self.ctx = None
        if self.https:
            self.ctx = ssl.create_default_context(cafile=cafile)
        self.conn = None

    def _connect(self):
        if self.https:
            return http.client.HTTPSConnection(
                self.host, self.port, context=self.ctx, timeout=self.timeout
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def call(self, method, path, body=None, expect=(200,)):
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection closed by the server: reconnect once.
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        if resp.status not in expect:
            raise Fail(f"{method} {path} -> {resp.status}: {raw[:500]!r}")
        return resp.status, raw


def value_of(size, i=0):
    """Deterministic printable value of exactly `size` bytes."""
    seed = f"{i:08d}" + "abcdefghijklmnopqrstuvwxyz0123456789"
    return (seed * (size // len(seed) + 1))[:size]


def write_req(kind, name, value):
    if kind == "keyhaven":
        return "PUT", f"/secrets/{name}?{API}", {"value": value}, (200,)
    return "POST", f"/v1/secret/data/{name}", {"data": {"value": value}}, (200, 204)


def make_client(a):
    return Client(a.base, a.auth_header, a.auth_value, a.cafile)


def run_parallel(a, jobs, concurrency):
    """Run callables jobs[i](client) on `concurrency` threads, one connection each."""
    lock = threading.Lock()
    it = iter(range(len(jobs)))
    errors = []

    def worker():
        c = make_client(a)
        while True:
            with lock:
                if errors:
                    return
                i = next(it, None)
            if i is None:
                return
            try:
                jobs[i](c)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(e)
                return

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise Fail(str(errors[0]))
    return elapsed


def cmd_seed(a):
    """Create secrets {prefix}1..{prefix}N with values of a.size bytes."""
    def job(i):
        def run(c):
            m, p, b, e = write_req(a.kind, f"{a.prefix}{i}", value_of(a.size, i))
            c.call(m, p, b, e)
        return run

    jobs = [job(i) for i in range(1, a.n + 1)]
    elapsed = run_parallel(a, jobs, a.concurrency)
    return {"secrets": a.n, "value_bytes": a.size, "seconds": round(elapsed, 3)}


def cmd_versions(a):
    """Write a.n versions of one secret with a.concurrency concurrent writers."""
    def job(i):
        def run(c):
            m, p, b, e = write_req(a.kind, a.name, value_of(a.size, i))
            c.call(m, p, b, e)
        return run

    jobs = [job(i) for i in range(a.n)]
    elapsed = run_parallel(a, jobs, a.concurrency)
    return {
        "name": a.name,
        "versions_written": a.n,
        "concurrency": a.concurrency,
        "seconds": round(elapsed, 3),
        "writes_per_sec": round(a.n / elapsed, 1),
    }


def cmd_backup_restore(a):
    """Time backup of one secret (a.runs times) and restore of its blob (a.restore_runs times)."""
    if a.kind != "keyhaven":
        raise Fail("backup/restore is only measured on keyhaven")
    c = make_client(a)
    name = a.name
    # Warm the connection (TLS handshake, token check) outside the timings.
    c.call("GET", f"/secrets/{name}?{API}")

    backup_ms = []
    blob = None
    for _ in range(a.runs):
        t0 = time.perf_counter()
        _, raw = c.call("POST", f"/secrets/{name}/backup?{API}")
        backup_ms.append((time.perf_counter() - t0) * 1000)
        blob = json.loads(raw)["value"]

    restore_ms = []
    delete_ms = []
    purge_ms = []
    for _ in range(a.restore_runs):
        t0 = time.perf_counter()
        c.call("DELETE", f"/secrets/{name}?{API}")
        delete_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        c.call("DELETE", f"/deletedsecrets/{name}?{API}", expect=(200, 204))
        purge_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        c.call("POST", f"/secrets/restore?{API}", {"value": blob})
        restore_ms.append((time.perf_counter() - t0) * 1000)

    # Check what came back: the restored secret backs up to a blob of the
    # same size and its latest version reads.
    _, raw = c.call("POST", f"/secrets/{name}/backup?{API}")
    after = json.loads(raw)["value"]
    _, raw = c.call("GET", f"/secrets/{name}?{API}")
    latest = json.loads(raw)

    def summary(xs):
        return {
            "runs_ms": [round(x, 2) for x in xs],
            "median_ms": round(statistics.median(xs), 2),
            "min_ms": round(min(xs), 2),
            "max_ms": round(max(xs), 2),
        }

    return {
        "name": name,
        "blob_bytes": len(blob),
        "blob_bytes_after_restore": len(after),
        "latest_id": latest.get("id"),
        "backup": summary(backup_ms),
        "restore": summary(restore_ms),
        "delete": summary(delete_ms),
        "purge": summary(purge_ms),
    }


def cmd_count_versions(a):
    """Count the versions of one secret by walking its version list (keyhaven)."""
    c = make_client(a)
    path = f"/secrets/{a.name}/versions?{API}&maxresults=25"
    count = 0
    pages = 0
    t0 = time.perf_counter()
    while path and pages < a.max_pages:
        _, raw = c.call("GET", path)
        doc = json.loads(raw)
        count += len(doc.get("value", []))
        pages += 1
        nxt = doc.get("nextLink")
        if not nxt:
            path = None
        else:
            u = urllib.parse.urlsplit(nxt)
            path = u.path + ("?" + u.query if u.query else "")
    return {
        "name": a.name,
        "versions": count,
        "pages": pages,
        "complete": path is None,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=["keyhaven", "openbao"], required=True)
    p.add_argument("--base", required=True, help="e.g. https://localhost:8443")
    p.add_argument("--cafile")
    p.add_argument("--auth-header", required=True)
    p.add_argument("--auth-value", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("seed")
    s.add_argument("--n", type=int, default=1000)
    s.add_argument("--size", type=int, default=32)
    s.add_argument("--prefix", default="s")
    s.add_argument("--concurrency", type=int, default=16)
    s.set_defaults(fn=cmd_seed)

    s = sub.add_parser("versions")
    s.add_argument("--name", required=True)
    s.add_argument("--n", type=int, default=10000)
    s.add_argument("--size", type=int, default=32)
    s.add_argument("--concurrency", type=int, default=32)
    s.set_defaults(fn=cmd_versions)

    s = sub.add_parser("backup-restore")
    s.add_argument("--name", required=True)
    s.add_argument("--runs", type=int, default=5)
    s.add_argument("--restore-runs", type=int, default=3)
    s.set_defaults(fn=cmd_backup_restore)

    s = sub.add_parser("count-versions")
    s.add_argument("--name", required=True)
    s.add_argument("--max-pages", type=int, default=1000)
    s.set_defaults(fn=cmd_count_versions)

    a = p.parse_args()
    try:
        out = a.fn(a)
    except Fail as e:
        print(f"kvtool {a.cmd}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
