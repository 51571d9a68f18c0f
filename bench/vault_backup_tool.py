#!/usr/bin/env python3
"""Loading, timing and checking steps of bench/vault_backup.sh.

Standard library only. Every step prints one JSON object on stdout and exits
non-zero (with the reason on stderr) when a server answers anything
unexpected, so that the calling script never reports figures from a broken run.

  load         write N secrets x V versions, each write exactly once, over
               keep-alive connections (asyncio, one or more processes)
  check        read back a sample of the objects: V versions each, the
               latest holding the value of version V
  kh-backup    Keyhaven POST /backup, poll the job, GET its content to a file
  kh-restore   Keyhaven PUT /restore (the file as a streamed body) into a
               vault, poll the job; a second connection reads one secret of
               the vault until it answers 200 ("serving")
  bao-restore  `bao operator raft snapshot restore -force` with the same
               reader of one secret (deleted beforehand, so that only the
               restore can bring it back)
  timed        run a command, time it; RSS and CPU of a server meanwhile
  report       results.json and results.md of a run directory

Data: object k (1..N) is the secret s<k>; version v holds
"v<vvvv>-s<kkkkkkkk>-" padded with x (or cut) to the value size. Versions are
written round by round (v1 of every object of a loader process, then v2...),
so that one object's versions are written in order.

RSS and CPU of a server PID are sampled every 50 ms during a step
(VmRSS of /proc/PID/status; utime+stime of /proc/PID/stat).
"""

import argparse
import asyncio
import http.client
import json
import multiprocessing as mp
import os
import queue
import random
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

API = "api-version=7.5"
HZ = os.sysconf("SC_CLK_TCK")


class Fail(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def value_of(v, k, size):
    s = f"v{v:04d}-s{k:08d}-"
    return (s + "x" * size)[:size]


# ------------------------------------------------------------ sampling ---
def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_s(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
        rest = raw[raw.rindex(")") + 2:].split()
        return (int(rest[11]) + int(rest[12])) / HZ
    except OSError:
        return None


class Sampler:
    """Peak RSS and CPU time of one PID while a step runs."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = None

    def __enter__(self):
        if not self.pid:
            return self
        self.before_kb = rss_kb(self.pid)
        self.cpu0 = cpu_s(self.pid)
        self.peak = self.before_kb or 0
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            r = rss_kb(self.pid)
            if r and r > self.peak:
                self.peak = r
            self.samples += 1
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        if self._t:
            self._stop.set()
            self._t.join()
            r = rss_kb(self.pid)
            if r and r > self.peak:
                self.peak = r
            self.after_kb = r
            c = cpu_s(self.pid)
            self.cpu = None if c is None or self.cpu0 is None else round(c - self.cpu0, 2)
        return False

    def result(self):
        if not self.pid:
            return None
        return {
            "before_kb": self.before_kb,
            "peak_kb": self.peak,
            "after_kb": self.after_kb,
            "growth_kb": None if self.before_kb is None else self.peak - self.before_kb,
            "server_cpu_s": self.cpu,
            "samples": self.samples,
        }


# ---------------------------------------------------------------- HTTP ---
class Http:
    """One keep-alive HTTP/1.1 connection; Host may name another vault."""

    def __init__(self, base, cafile=None, host=None, headers=None, timeout=600):
        u = urllib.parse.urlsplit(base)
        self.hostname, self.port, self.https = u.hostname, u.port, u.scheme == "https"
        self.ctx = ssl.create_default_context(cafile=cafile) if self.https else None
        self.headers = dict(headers or {})
        if host:
            self.headers["Host"] = host
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        if self.https:
            return http.client.HTTPSConnection(
                self.hostname, self.port, context=self.ctx, timeout=self.timeout, blocksize=1 << 20)
        return http.client.HTTPConnection(self.hostname, self.port, timeout=self.timeout, blocksize=1 << 20)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def send(self, method, path, body=None, headers=None):
        """Sends a request; returns the response, unread."""
        h = dict(self.headers)
        h.update(headers or {})
        if self.conn is None:
            self.conn = self._connect()
        try:
            self.conn.request(method, path, body=body, headers=h)
            return self.conn.getresponse()
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def call(self, method, path, body=None, headers=None, expect=(200,)):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
        resp = self.send(method, path, body, headers)
        raw = resp.read()
        if expect is not None and resp.status not in expect:
            raise Fail(f"{method} {path} -> {resp.status}: {raw[:600]!r}")
        return resp.status, raw


def auth_headers(a):
    return {a.auth_header: a.auth_value}


# ---------------------------------------------------------------- load ---
async def _writer(a, jobs, counters, conn_no):
    """One keep-alive connection writing jobs (method, path, body) until none are left."""
    u = urllib.parse.urlsplit(a.base)
    ctx = ssl.create_default_context(cafile=a.cafile) if u.scheme == "https" else None
    head = f"Host: {u.netloc}\r\n{a.auth_header}: {a.auth_value}\r\nContent-Type: application/json\r\n"
    reader = writer = None
    job = None
    while True:
        if job is None:
            job = next(jobs, None)
            if job is None:
                break
        method, path, body = job
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(u.hostname, u.port, ssl=ctx)
            writer.write(f"{method} {path} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            line = await reader.readline()
            if not line:
                raise ConnectionResetError("connection closed")
            status = int(line.split()[1])
            length, close = 0, False
            while True:
                h = await reader.readline()
                if h in (b"\r\n", b""):
                    break
                k, _, v = h.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    length = int(v)
                elif k == b"connection" and v.strip().lower() == b"close":
                    close = True
            raw = await reader.readexactly(length) if length else b""
            if close:
                writer.close()
                reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as e:
            # The write may or may not have happened; retried, and counted (the check after the load
            # would show a duplicate version).
            if writer is not None:
                writer.close()
            reader = writer = None
            counters["reconnects"] += 1
            if counters["reconnects"] > 1000:
                raise Fail(f"too many connection errors, last: {e!r}")
            await asyncio.sleep(0.05)
            continue
        if status in (200, 204):
            counters["ok"] += 1
            job = None
        elif status in (429, 503) or (status == 400 and b"upgrading" in raw):
            counters["retries"] += 1
            await asyncio.sleep(0.2)
        else:
            raise Fail(f"{method} {path} -> {status}: {raw[:600]!r}")
    if writer is not None:
        writer.close()


def _load_process(a, lo, hi, conns, shared):
    """Objects lo..hi-1, V versions each, on `conns` connections; progress in shared[0]."""
    def jobs():
        for v in range(1, a.versions + 1):
            for k in range(lo, hi):
                val = value_of(v, k, a.size)
                if a.kind == "keyhaven":
                    yield "PUT", f"/secrets/s{k}?{API}", json.dumps({"value": val}).encode()
                else:
                    yield "POST", f"/v1/secret/data/s{k}", json.dumps({"data": {"value": val}}).encode()

    counters = {"ok": 0, "retries": 0, "reconnects": 0}
    it = jobs()

    async def progress():
        while True:
            shared[0] = counters["ok"]
            await asyncio.sleep(0.5)

    async def main():
        p = asyncio.ensure_future(progress())
        try:
            await asyncio.gather(*[_writer(a, it, counters, i) for i in range(conns)])
        finally:
            p.cancel()
        shared[0] = counters["ok"]

    asyncio.run(main())
    return counters


def _load_entry(i, a, lo, hi, conns, shared, q):
    try:
        q.put((i, _load_process(a, lo, hi, conns, shared)))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        q.put((i, {"error": str(e) if isinstance(e, Fail) else repr(e)}))


def cmd_load(a):
    total = a.objects * a.versions
    nprocs = max(1, min(a.procs, a.objects))
    ctx = mp.get_context("fork")
    shared = ctx.RawArray("q", nprocs)  # writes acknowledged so far, per process
    q = ctx.Queue()
    procs = []
    for i in range(nprocs):
        lo = 1 + a.objects * i // nprocs
        hi = 1 + a.objects * (i + 1) // nprocs
        c = max(1, a.conns // nprocs + (1 if i < a.conns % nprocs else 0))
        procs.append(ctx.Process(target=_load_entry, args=(i, a, lo, hi, c, shared, q), daemon=True))
    sampler = Sampler(a.pid)
    out = {}
    with sampler:
        t0 = time.perf_counter()
        for p in procs:
            p.start()

        def on_term(signum, frame):
            for p in procs:
                if p.is_alive():
                    p.terminate()
            sys.exit(128 + signum)

        signal.signal(signal.SIGTERM, on_term)
        last = t0
        while len(out) < nprocs:
            try:
                i, r = q.get(timeout=0.5)
                out[i] = r
                if "error" in r:
                    break
                continue
            except queue.Empty:
                pass
            if any(p.exitcode not in (None, 0) for p in procs):
                break
            now = time.perf_counter()
            if now - last >= a.progress_every:
                last = now
                done = sum(shared)
                rate = done / (now - t0)
                eta = (total - done) / rate if rate else float("inf")
                log(f"  {a.label}: {done:,} / {total:,} writes ({100 * done / total:.0f}%), "
                    f"{rate:,.0f}/s, {now - t0:.0f} s elapsed, about {eta:.0f} s left")
        elapsed = time.perf_counter() - t0
    for p in procs:
        if p.is_alive() and len(out) < nprocs:
            p.terminate()
        p.join()
    out = [out.get(i, {"error": f"loader process {i} exited with {procs[i].exitcode}"}) for i in range(nprocs)]
    errs = [o["error"] for o in out if "error" in o]
    if errs:
        raise Fail(errs[0])
    ok = sum(o["ok"] for o in out)
    if ok != total:
        raise Fail(f"{ok} writes acknowledged, {total} wanted")
    return {
        "objects": a.objects,
        "versions_per_object": a.versions,
        "writes": ok,
        "processes": nprocs,
        "connections": a.conns,
        "seconds": round(elapsed, 3),
        "writes_per_sec": round(ok / elapsed, 1),
        "retries": sum(o["retries"] for o in out),
        "reconnects": sum(o["reconnects"] for o in out),
        "rss": sampler.result(),
    }


# --------------------------------------------------------------- check ---
def sample_names(n, count, seed=1):
    r = random.Random(seed)
    ks = {1, n}
    while len(ks) < min(n, count):
        ks.add(r.randint(1, n))
    return sorted(ks)


def kh_versions(c, name):
    path = f"/secrets/{name}/versions?{API}&maxresults=25"
    count = 0
    while path:
        _, raw = c.call("GET", path)
        doc = json.loads(raw)
        count += len(doc.get("value", []))
        nxt = doc.get("nextLink")
        if nxt:
            u = urllib.parse.urlsplit(nxt)
            path = u.path + ("?" + u.query if u.query else "")
        else:
            path = None
    return count


def cmd_check(a):
    """Sampled objects hold V versions and their latest value is version V's."""
    c = Http(a.base, a.cafile, a.host, auth_headers(a), timeout=60)
    bad = []
    names = sample_names(a.objects, a.sample)
    for k in names:
        want = value_of(a.versions, k, a.size)
        if a.kind == "keyhaven":
            _, raw = c.call("GET", f"/secrets/s{k}?{API}")
            got = json.loads(raw).get("value")
            n = kh_versions(c, f"s{k}")
        else:
            _, raw = c.call("GET", f"/v1/secret/data/s{k}")
            got = json.loads(raw)["data"]["data"].get("value")
            _, raw = c.call("GET", f"/v1/secret/metadata/s{k}")
            md = json.loads(raw)["data"]
            n = len(md.get("versions", {}))
            if md.get("current_version") != a.versions:
                bad.append(f"s{k}: current_version {md.get('current_version')}")
        if n != a.versions:
            bad.append(f"s{k}: {n} versions")
        if got != want:
            bad.append(f"s{k}: latest value {got!r}, wanted {want!r}")
    if bad:
        raise Fail(f"{len(bad)} problems in {len(names)} sampled objects: {'; '.join(bad[:5])}")
    return {"sampled_objects": len(names), "versions_each": a.versions, "ok": True}


# ------------------------------------------------------------ Keyhaven ---
def poll_job(c, path, interval):
    while True:
        _, raw = c.call("GET", path)
        j = json.loads(raw)
        if j.get("status") == "Succeeded":
            return j
        if j.get("status") != "InProgress":
            raise Fail(f"job {path}: {json.dumps(j)[:800]}")
        time.sleep(interval)


def job_summary(j):
    m = j.get("manifest") or {}
    out = {k: j.get(k) for k in ("jobId", "status", "startTime", "endTime", "objects", "versions", "bytes")}
    if j.get("startTime") is not None and j.get("endTime") is not None:
        out["server_seconds"] = j["endTime"] - j["startTime"]
    out["manifest_versions"] = m.get("versions")
    rep = j.get("report") or {}
    for k in ("restored", "skipped", "conflicts", "versionsWritten"):
        if k in rep:
            out[f"report_{k}"] = rep[k]
    return out


def cmd_kh_backup(a):
    c = Http(a.base, a.cafile, None, auth_headers(a))
    c.call("GET", f"/secrets?{API}&maxresults=1")  # TLS handshake and token check outside the timing
    sampler = Sampler(a.pid)
    with sampler:
        t0 = time.perf_counter()
        _, raw = c.call("POST", f"/backup?{API}", {}, expect=(202,))
        job = json.loads(raw)["jobId"]
        t_started = time.perf_counter()
        j = poll_job(c, f"/backup/{job}/pending?{API}", a.poll)
        t_job = time.perf_counter()
        resp = c.send("GET", f"/backup/{job}/content?{API}")
        if resp.status != 200:
            raise Fail(f"GET content -> {resp.status}: {resp.read()[:600]!r}")
        n = 0
        with open(a.out, "wb") as f:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                f.write(chunk)
                n += len(chunk)
        t_file = time.perf_counter()
    if j.get("bytes") and n != j["bytes"]:
        raise Fail(f"downloaded {n} bytes, the job says {j['bytes']}")
    wall = t_file - t0
    versions = j.get("versions") or 0
    return {
        "wall_seconds": round(wall, 3),
        "post_seconds": round(t_started - t0, 3),
        "job_seen_done_seconds": round(t_job - t0, 3),
        "download_seconds": round(t_file - t_job, 3),
        "bytes": n,
        "versions": versions,
        "versions_per_sec": round(versions / wall, 1),
        "mb_per_sec": round(n / 1e6 / wall, 2),
        "job": job_summary(j),
        "rss": sampler.result(),
    }


class Prober(threading.Thread):
    """Reads one secret over its own connection until the server answers 200."""

    def __init__(self, make_conn, path, t0, interval=0.005, deadline=3600):
        super().__init__(daemon=True)
        self.make_conn, self.path, self.t0 = make_conn, path, t0
        self.interval, self.deadline = interval, deadline
        self.t_ok = None
        self.t_last_miss = None  # when the last answer before the 200 came back
        self.body = None
        self.statuses = {}
        self.errors = 0
        self.timeline = []  # [seconds from t0 when the answer came, status or "error"], first 500
        self.stop = threading.Event()

    def run(self):
        c = self.make_conn()
        while not self.stop.is_set() and time.perf_counter() - self.t0 < self.deadline:
            try:
                status, raw = c.call("GET", self.path, expect=None)
            except (OSError, http.client.HTTPException):
                self.errors += 1
                if len(self.timeline) < 500:
                    self.timeline.append([round(time.perf_counter() - self.t0, 3), "error"])
                c.close()
                time.sleep(self.interval)
                continue
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if len(self.timeline) < 500:
                self.timeline.append([round(time.perf_counter() - self.t0, 3), status])
            if status == 200:
                self.t_ok = time.perf_counter()
                self.body = raw
                return
            self.t_last_miss = time.perf_counter()
            time.sleep(self.interval)


def cmd_kh_restore(a):
    host = f"{a.vault}.vault.localhost:{urllib.parse.urlsplit(a.base).port}"
    c = Http(a.base, a.cafile, host, auth_headers(a))
    probe_path = f"/secrets/{a.probe}?{API}"
    status, _ = c.call("GET", probe_path, expect=None)
    if status != 404:
        raise Fail(f"the probe secret answers {status} in vault {a.vault} before the restore")
    size = os.path.getsize(a.file)
    sampler = Sampler(a.pid)
    with sampler:
        t0 = time.perf_counter()
        prober = Prober(lambda: Http(a.base, a.cafile, host, auth_headers(a), timeout=a.probe_timeout), probe_path, t0)
        prober.start()
        with open(a.file, "rb") as f:
            _, raw = c.call("PUT", f"/restore?{API}", f, expect=(202,),
                            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        t_uploaded = time.perf_counter()
        job = json.loads(raw)["jobId"]
        j = poll_job(c, f"/restore/{job}/pending?{API}", a.poll)
        t_job = time.perf_counter()
        prober.join(60)
        prober.stop.set()
    if prober.t_ok is None:
        raise Fail(f"the probe secret never answered 200 ({prober.statuses}, {prober.errors} errors)")
    serving = prober.t_ok - t0
    versions = j.get("versions") or 0
    return {
        "until_serving_seconds": round(serving, 3),
        "upload_seconds": round(t_uploaded - t0, 3),
        "job_seen_done_seconds": round(t_job - t0, 3),
        "bytes": size,
        "versions": versions,
        "versions_per_sec": round(versions / serving, 1),
        "mb_per_sec": round(size / 1e6 / serving, 2),
        "probe": a.probe,
        "probe_value": json.loads(prober.body).get("value"),
        "probe_answers": prober.statuses,
        "probe_last_miss_seconds": prober.t_last_miss and round(prober.t_last_miss - t0, 3),
        "probe_errors": prober.errors,
        "probe_timeline": prober.timeline,
        "job": job_summary(j),
        "rss": sampler.result(),
    }


# ------------------------------------------------------------- OpenBao ---
def bao_env(a):
    env = dict(os.environ)
    for p in ("BAO", "VAULT"):
        env[f"{p}_ADDR"] = a.base
        env[f"{p}_TOKEN"] = a.auth_value
    return env


def cmd_bao_restore(a):
    c = Http(a.base, None, None, auth_headers(a), timeout=60)
    probe_path = f"/v1/secret/data/{a.probe}"
    # Remove the probe secret (all its versions), so that a 200 can only come from the restored data.
    c.call("DELETE", f"/v1/secret/metadata/{a.probe}", expect=(200, 204))
    status, _ = c.call("GET", probe_path, expect=None)
    if status != 404:
        raise Fail(f"the probe secret answers {status} after its deletion")
    size = os.path.getsize(a.file)
    sampler = Sampler(a.pid)
    with sampler:
        t0 = time.perf_counter()
        prober = Prober(lambda: Http(a.base, None, None, auth_headers(a), timeout=a.probe_timeout), probe_path, t0)
        prober.start()
        p = subprocess.run([a.bao, "operator", "raft", "snapshot", "restore", "-force", a.file],
                           env=bao_env(a), capture_output=True, text=True, timeout=3600)
        t_cmd = time.perf_counter()
        if p.returncode != 0:
            prober.stop.set()
            raise Fail(f"snapshot restore exited {p.returncode}: {p.stderr.strip()[:600]}")
        prober.join(600)
        prober.stop.set()
    if prober.t_ok is None:
        raise Fail(f"the probe secret never answered 200 ({prober.statuses}, {prober.errors} errors)")
    serving = prober.t_ok - t0
    return {
        "until_serving_seconds": round(serving, 3),
        "command_seconds": round(t_cmd - t0, 3),
        "bytes": size,
        "versions": a.total_versions,
        "versions_per_sec": round(a.total_versions / serving, 1),
        "mb_per_sec": round(size / 1e6 / serving, 2),
        "probe": a.probe,
        "probe_value": json.loads(prober.body)["data"]["data"].get("value"),
        "probe_answers": prober.statuses,
        "probe_last_miss_seconds": prober.t_last_miss and round(prober.t_last_miss - t0, 3),
        "probe_errors": prober.errors,
        "probe_timeline": prober.timeline,
        "rss": sampler.result(),
    }


def cmd_timed(a):
    sampler = Sampler(a.pid)
    env = bao_env(a) if a.bao_env else None
    with sampler:
        t0 = time.perf_counter()
        with open(a.stdout, "w") as out, open(a.stderr, "w") as err:
            p = subprocess.run(a.command, stdout=out, stderr=err, env=env, timeout=3600)
        dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise Fail(f"{' '.join(a.command[:4])}... exited {p.returncode}: {open(a.stderr).read()[-600:]}")
    res = {"seconds": round(dt, 3), "command": " ".join(a.command), "rss": sampler.result()}
    if a.file:
        size = os.path.getsize(a.file)
        res["bytes"] = size
        res["mb_per_sec"] = round(size / 1e6 / dt, 2)
    if a.versions:
        res["versions"] = a.versions
        res["versions_per_sec"] = round(a.versions / dt, 1)
    return res


# -------------------------------------------------------------- report ---
BACKUP_TARGET = 0.6     # Keyhaven backup wall time / OpenBao snapshot save time
RESTORE_TARGET = 0.4    # Keyhaven restore until serving / OpenBao restore until first read
RSS_GROWTH_MIB = 64.0   # Keyhaven RSS growth during backup and during restore


def _j(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _meta(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def _g(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _f(x, nd=0, unit=""):
    if x is None:
        return "n/a"
    return f"{x:,.{nd}f}{unit}"


def _mib(kb):
    return None if kb is None else kb / 1024.0


def _mib_b(b):
    return None if b is None else b / 1048576.0


def _s(x):
    return "n/a" if x is None else (f"{x:.3f} s" if x < 10 else f"{x:,.1f} s")


def _verdict(ok):
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def cmd_report(a):
    run = os.path.realpath(a.run)
    m = _meta(os.path.join(run, "meta.txt"))
    sets = m.get("version_sets", "").split()
    res = {"meta": m, "sets": {}}
    lines = []
    w = lines.append
    w(f"Run {os.path.basename(run)}: {m.get('date_utc', '?')}, {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), "
      f"kernel {m.get('kernel', '?')}, {m.get('openbao', '?')}, keyhaven {m.get('keyhaven_commit', '?')} "
      f"(binary built {m.get('keyhaven_binary', '?')})")
    w(f"Parameters: {m.get('objects', '?')} secrets x versions {', '.join(sets)}, values of {m.get('value_bytes', '?')} bytes; "
      f"loader {m.get('load_procs', '?')} process(es), {m.get('load_conns', '?')} keep-alive connections; "
      f"data on {m.get('fs', '?')}; CPU busy before the run {m.get('cpu_busy_before_pct', '?')}%; load average at start "
      f"{m.get('loadavg_start', '?')}, at end {m.get('loadavg_end', '?')}; measuring part took {m.get('elapsed_s', '?')} s; "
      f"CPU used by other processes meanwhile {m.get('other_cpu_s', '?')} s ({m.get('other_cpu_top') or 'none'})")
    try:
        if int(m.get("cpu_busy_before_pct", "0")) > 10:
            w("")
            w(f"CAUTION: the machine was {m['cpu_busy_before_pct']}% busy just before the run; other processes were "
              "competing for the cores, so these figures are skewed.")
        other = float(m.get("other_cpu_s", "0"))
        cap = float(m.get("elapsed_s", "0")) * float(m.get("nproc", "1"))
        if cap and other > 0.05 * cap:
            w("")
            w(f"CAUTION: other processes used {other:.0f} CPU-seconds of the {cap:.0f} available during the run; "
              "these figures are skewed.")
    except ValueError:
        pass

    for v in sets:
        d = os.path.join(run, f"v{v}")
        kh = {k: _j(os.path.join(d, "keyhaven", f"{k}.json"))
              for k in ("load", "backup", "restore", "cli-backup", "cli-restore", "check-load", "check-restore")}
        bo = {k: _j(os.path.join(d, "openbao", f"{k}.json"))
              for k in ("load", "save", "restore", "check-load", "check-restore")}
        res["sets"][v] = {"keyhaven": kh, "openbao": bo}
        total = _g(kh, "load", "writes") or _g(bo, "load", "writes")
        kb, ob = _g(kh, "backup", "wall_seconds"), _g(bo, "save", "seconds")
        kr, orr = _g(kh, "restore", "until_serving_seconds"), _g(bo, "restore", "until_serving_seconds")
        rb = kb / ob if kb and ob else None
        rr = kr / orr if kr and orr else None
        gb = _mib(_g(kh, "backup", "rss", "growth_kb"))
        gr = _mib(_g(kh, "restore", "rss", "growth_kb"))
        res["sets"][v]["ratios"] = {"backup": rb, "restore_until_serving": rr}
        w("")
        w(f"### {m.get('objects', '?')} secrets x {v} versions ({_f(total)} versions)")
        w("")
        w("| figure | Keyhaven | OpenBao | Keyhaven ÷ OpenBao | target | result |")
        w("|---|---:|---:|---:|---:|---|")
        w(f"| backup wall time (Keyhaven: POST /backup → file complete; OpenBao: `raft snapshot save`) | {_s(kb)} | {_s(ob)} | "
          f"{_f(rb, 2, '×')} | ≤ {BACKUP_TARGET}× | {_verdict(None if rb is None else rb <= BACKUP_TARGET)} |")
        w(f"| restore until serving (start of upload → first 200 read of a restored secret) | {_s(kr)} | {_s(orr)} | "
          f"{_f(rr, 2, '×')} | ≤ {RESTORE_TARGET}× | {_verdict(None if rr is None else rr <= RESTORE_TARGET)} |")
        w(f"| RSS growth during backup (peak − idle before; the target is Keyhaven's) | {_f(gb, 1, ' MiB')} | "
          f"{_f(_mib(_g(bo, 'save', 'rss', 'growth_kb')), 1, ' MiB')} | — | < {RSS_GROWTH_MIB:.0f} MiB | "
          f"{_verdict(None if gb is None else gb < RSS_GROWTH_MIB)} |")
        w(f"| RSS growth during restore (peak − idle before; the target is Keyhaven's) | {_f(gr, 1, ' MiB')} | "
          f"{_f(_mib(_g(bo, 'restore', 'rss', 'growth_kb')), 1, ' MiB')} | — | < {RSS_GROWTH_MIB:.0f} MiB | "
          f"{_verdict(None if gr is None else gr < RSS_GROWTH_MIB)} |")
        w("")
        w("| detail | Keyhaven | OpenBao |")
        w("|---|---:|---:|")
        w(f"| load: {_f(total)} writes | {_s(_g(kh, 'load', 'seconds'))}, {_f(_g(kh, 'load', 'writes_per_sec'))} writes/s | "
          f"{_s(_g(bo, 'load', 'seconds'))}, {_f(_g(bo, 'load', 'writes_per_sec'))} writes/s |")
        w(f"| backup file / snapshot size | {_f(_mib_b(_g(kh, 'backup', 'bytes')), 1, ' MiB')} | "
          f"{_f(_mib_b(_g(bo, 'save', 'bytes')), 1, ' MiB')} |")
        w(f"| backup versions/s | {_f(_g(kh, 'backup', 'versions_per_sec'))} | {_f(_g(bo, 'save', 'versions_per_sec'))} |")
        w(f"| backup MB/s (file bytes ÷ wall time) | {_f(_g(kh, 'backup', 'mb_per_sec'), 1)} | {_f(_g(bo, 'save', 'mb_per_sec'), 1)} |")
        w(f"| backup: job done (seen by polling) / download | {_s(_g(kh, 'backup', 'job_seen_done_seconds'))} / "
          f"{_s(_g(kh, 'backup', 'download_seconds'))} | — |")
        w(f"| backup: the job's own startTime → endTime (whole seconds, coarse) | {_f(_g(kh, 'backup', 'job', 'server_seconds'))} s | — |")
        w(f"| restore versions/s (until serving) | {_f(_g(kh, 'restore', 'versions_per_sec'))} | {_f(_g(bo, 'restore', 'versions_per_sec'))} |")
        w(f"| restore MB/s (file bytes ÷ time until serving) | {_f(_g(kh, 'restore', 'mb_per_sec'), 1)} | {_f(_g(bo, 'restore', 'mb_per_sec'), 1)} |")
        w(f"| restore: upload acknowledged / command returned | {_s(_g(kh, 'restore', 'upload_seconds'))} | "
          f"{_s(_g(bo, 'restore', 'command_seconds'))} |")
        w(f"| restore: job done (seen by polling) | {_s(_g(kh, 'restore', 'job_seen_done_seconds'))} | — |")
        w(f"| restore: last read before the first 200 (resolution of \"until serving\") | "
          f"{_s(_g(kh, 'restore', 'probe_last_miss_seconds'))} | {_s(_g(bo, 'restore', 'probe_last_miss_seconds'))} |")
        w(f"| restore: the job's own startTime → endTime (whole seconds, coarse) | {_f(_g(kh, 'restore', 'job', 'server_seconds'))} s | — |")
        for step, kk, bk in (("load", "load", "load"), ("backup", "backup", "save"), ("restore", "restore", "restore")):
            w(f"| RSS {step}: idle before → peak → after | "
              f"{_f(_mib(_g(kh, kk, 'rss', 'before_kb')), 1)} → {_f(_mib(_g(kh, kk, 'rss', 'peak_kb')), 1)} → "
              f"{_f(_mib(_g(kh, kk, 'rss', 'after_kb')), 1)} MiB | "
              f"{_f(_mib(_g(bo, bk, 'rss', 'before_kb')), 1)} → {_f(_mib(_g(bo, bk, 'rss', 'peak_kb')), 1)} → "
              f"{_f(_mib(_g(bo, bk, 'rss', 'after_kb')), 1)} MiB |")
        for step, kk, bk in (("backup", "backup", "save"), ("restore", "restore", "restore")):
            w(f"| server CPU during {step} | {_f(_g(kh, kk, 'rss', 'server_cpu_s'), 2)} s | {_f(_g(bo, bk, 'rss', 'server_cpu_s'), 2)} s |")
        if kh.get("cli-backup") or kh.get("cli-restore"):
            w(f"| CLI: `keyhaven vault backup` / `vault restore` (to exit) | {_s(_g(kh, 'cli-backup', 'seconds'))} / "
              f"{_s(_g(kh, 'cli-restore', 'seconds'))} | {_s(ob)} / {_s(_g(bo, 'restore', 'command_seconds'))} |")
        w(f"| data dir after load | {_f(_mib(_g(kh, 'load', 'data_dir_kb')), 1, ' MiB')} | {_f(_mib(_g(bo, 'load', 'data_dir_kb')), 1, ' MiB')} |")
        checks = [f"{s} {k}: {'ok' if _g(x, k, 'ok') else 'MISSING'}"
                  for s, x in (("Keyhaven", kh), ("OpenBao", bo)) for k in ("check-load", "check-restore")]
        w("")
        w("Checks (sampled objects hold every version, the latest one's value): " + "; ".join(checks) + ".")

    phases = []
    if os.path.exists(os.path.join(run, "phases.txt")):
        for line in open(os.path.join(run, "phases.txt")):
            name, _, secs = line.strip().rpartition(" ")
            if name:
                phases.append((name, float(secs)))
    if phases:
        res["phases"] = phases
        w("")
        w("Wall time of each phase of the run (s): " + ", ".join(f"{n} {t:,.1f}" for n, t in phases)
          + f"; total {sum(t for _, t in phases):,.1f}.")

    text = "\n".join(lines) + "\n"
    with open(os.path.join(run, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    sys.stdout.write(text)
    return None


# ---------------------------------------------------------------- main ---
def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def server_args(s, auth=True):
        s.add_argument("--base", required=True, help="e.g. https://localhost:8443")
        s.add_argument("--cafile")
        if auth:
            s.add_argument("--auth-header", required=True)
            s.add_argument("--auth-value", required=True)
        s.add_argument("--pid", type=int, help="server PID whose RSS and CPU are sampled")

    s = sub.add_parser("load")
    server_args(s)
    s.add_argument("--kind", choices=["keyhaven", "openbao"], required=True)
    s.add_argument("--objects", type=int, required=True)
    s.add_argument("--versions", type=int, required=True)
    s.add_argument("--size", type=int, default=32)
    s.add_argument("--conns", type=int, default=64)
    s.add_argument("--procs", type=int, default=1)
    s.add_argument("--progress-every", type=float, default=10)
    s.add_argument("--label", default="load")
    s.set_defaults(fn=cmd_load)

    s = sub.add_parser("check")
    server_args(s)
    s.add_argument("--kind", choices=["keyhaven", "openbao"], required=True)
    s.add_argument("--host", help="Host header (another Keyhaven vault)")
    s.add_argument("--objects", type=int, required=True)
    s.add_argument("--versions", type=int, required=True)
    s.add_argument("--size", type=int, default=32)
    s.add_argument("--sample", type=int, default=20)
    s.set_defaults(fn=cmd_check)

    s = sub.add_parser("kh-backup")
    server_args(s)
    s.add_argument("--out", required=True)
    s.add_argument("--poll", type=float, default=0.02)
    s.set_defaults(fn=cmd_kh_backup)

    s = sub.add_parser("kh-restore")
    server_args(s)
    s.add_argument("--file", required=True)
    s.add_argument("--vault", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--probe-timeout", type=float, default=60, help="seconds before a read is dropped and retried")
    s.add_argument("--poll", type=float, default=0.02)
    s.set_defaults(fn=cmd_kh_restore)

    s = sub.add_parser("bao-restore")
    server_args(s)
    s.add_argument("--bao", required=True)
    s.add_argument("--file", required=True)
    s.add_argument("--probe", required=True)
    s.add_argument("--total-versions", type=int, required=True)
    s.add_argument("--probe-timeout", type=float, default=60, help="seconds before a read is dropped and retried")
    s.set_defaults(fn=cmd_bao_restore)

    s = sub.add_parser("timed")
    s.add_argument("--pid", type=int)
    s.add_argument("--stdout", required=True)
    s.add_argument("--stderr", required=True)
    s.add_argument("--file", help="report this file's size")
    s.add_argument("--versions", type=int)
    s.add_argument("--bao-env", action="store_true", help="set BAO_ADDR/BAO_TOKEN from --base/--auth-value")
    s.add_argument("--base")
    s.add_argument("--auth-value")
    s.add_argument("command", nargs=argparse.REMAINDER, help="-- command args...")
    s.set_defaults(fn=cmd_timed)

    s = sub.add_parser("report")
    s.add_argument("run")
    s.set_defaults(fn=cmd_report)

    a = p.parse_args()
    if a.cmd == "timed" and a.command[:1] == ["--"]:
        a.command = a.command[1:]
    try:
        out = a.fn(a)
    except Fail as e:
        print(f"vault_backup_tool {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    if out is not None:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
