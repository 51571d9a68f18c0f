#!/usr/bin/env python3
"""Turn one bench/secrets.sh run directory into results.json and results.md.

Usage: report.py bench/out/run-YYYYmmddTHHMMSSZ

Reads the raw wrk outputs, RSS samples and kvtool JSON written by the run;
prints the Markdown tables on stdout. Nothing here is measured or assumed:
a figure that is missing from the raw files is reported as "n/a".
"""

import json
import os
import re
import sys

GET_TARGET = 3.0      # Keyhaven GET / OpenBao KV v2 read
SET_TARGET = 2.5      # Keyhaven durable SET / OpenBao KV v2 write
BACKUP_TARGET_MS = 100.0

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(path):
    if not os.path.exists(path):
        return None
    text = open(path).read()
    r = {"file": os.path.basename(path)}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
    if m:
        r["requests"] = int(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        r[f"p{pct}_ms"] = float(m.group(1)) * UNITS[m.group(2)] if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    r["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def kv_file(path):
    """key=value pairs (space or newline separated) -> dict of ints where possible."""
    out = {}
    if not os.path.exists(path):
        return out
    for tok in open(path).read().split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            try:
                out[k] = int(v)
            except ValueError:
                out[k] = v
    return out


def meta(path):
    out = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                out[k] = v
    return out


def load_json(path):
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError:
        return None


def fmt(x, nd=0, unit=""):
    if x is None:
        return "n/a"
    return f"{x:,.{nd}f}{unit}"


def mib(kb):
    return None if kb is None else kb / 1024.0


def verdict(ok):
    if ok is None:
        return "n/a"
    return "met" if ok else "**missed**"


def main():
    run = os.path.realpath(sys.argv[1])
    m = meta(os.path.join(run, "meta.txt"))
    conns = m.get("conns", "32 64").split()

    servers = ("keyhaven", "openbao")
    res = {"meta": m, "throughput": {}, "rss": {}, "keyhaven": {}, "openbao": {}}
    for s in servers:
        d = os.path.join(run, s)
        for op in ("get", "set"):
            for c in conns:
                res["throughput"].setdefault(op, {}).setdefault(c, {})[s] = parse_wrk(
                    os.path.join(d, f"{op}-c{c}.txt")
                )
        idle = kv_file(os.path.join(d, "rss-idle.txt"))
        start = kv_file(os.path.join(d, "rss-start.txt"))
        peaks = []
        for op in ("get", "set"):
            for c in conns:
                peaks.append(kv_file(os.path.join(d, f"rss-{op}-c{c}.txt")).get("peak_kb"))
        peaks = [p for p in peaks if isinstance(p, int)]
        res["rss"][s] = {
            "startup_kb": start.get("startup_kb"),
            "idle_seeded_kb": idle.get("idle_kb"),
            "load_peak_kb": max(peaks) if peaks else None,
            "after_load_kb": idle.get("after_load_idle_kb"),
            "versions_peak_kb": kv_file(os.path.join(d, "rss-versions.txt")).get("peak_kb"),
            "backup_peak_kb": kv_file(os.path.join(d, "rss-backup.txt")).get("peak_kb"),
        }
        res[s]["seed"] = load_json(os.path.join(d, "seed.json"))
        res[s]["versions"] = load_json(os.path.join(d, "versions.json"))
        res[s]["disk"] = kv_file(os.path.join(d, "disk.txt"))
    res["keyhaven"]["backup"] = load_json(os.path.join(run, "keyhaven", "backup.json"))
    res["keyhaven"]["count"] = load_json(os.path.join(run, "keyhaven", "count.json"))

    lines = []
    w = lines.append
    w(f"Run {os.path.basename(run)} — {m.get('date_utc', '?')}, {m.get('nproc', '?')} cores "
      f"({m.get('cpu', '?')}), kernel {m.get('kernel', '?')}, {m.get('openbao', '?')}, "
      f"keyhaven {m.get('keyhaven_commit', '?')} (binary built {m.get('keyhaven_binary', '?')}), wrk {m.get('wrk', '?')}")
    w(f"Parameters: {m.get('secrets', '?')} secrets of {m.get('value_bytes', '?')} bytes; wrk "
      f"{m.get('threads', '?')} threads, {m.get('duration_s', '?')} s per step after a "
      f"{m.get('warmup_s', '?')} s warm-up; connections {', '.join(conns)}; data on {m.get('fs', '?')}; CPU busy before the run "
      f"{m.get('cpu_busy_before_pct', '?')}%; "
      f"load average at start {m.get('loadavg_start', '?')}, at end {m.get('loadavg_end', '?')}; "
      f"measuring part took {m.get('elapsed_s', '?')} s; CPU used by other processes meanwhile "
      f"{m.get('other_cpu_s', '?')} s ({m.get('other_cpu_top') or 'none'})")
    try:
        if int(m.get("cpu_busy_before_pct", "0")) > 10:
            w("")
            w(f"CAUTION: the machine was {m['cpu_busy_before_pct']}% busy just before the run; other "
              "processes were competing for the cores, so these figures are skewed.")
    except ValueError:
        pass
    try:
        other = float(m.get("other_cpu_s", "0"))
        cap = float(m.get("elapsed_s", "0")) * float(m.get("nproc", "1"))
        if cap and other > 0.05 * cap:
            w("")
            w(f"CAUTION: other processes used {other:.0f} CPU-seconds of the {cap:.0f} available "
              "during the run; these figures are skewed.")
    except ValueError:
        pass
    w("")

    for op, title, target in (
        ("get", "Secret GET throughput (Keyhaven GET /secrets/{name} vs OpenBao KV v2 read)", GET_TARGET),
        ("set", "Durable secret SET throughput (Keyhaven PUT /secrets/{name} vs OpenBao KV v2 write)", SET_TARGET),
    ):
        w(f"### {title}")
        w("")
        w("| connections | Keyhaven req/s | OpenBao req/s | ratio | target | result |")
        w("|---|---:|---:|---:|---:|---|")
        for c in conns:
            k = res["throughput"][op][c]["keyhaven"] or {}
            b = res["throughput"][op][c]["openbao"] or {}
            ratio = k["rps"] / b["rps"] if k.get("rps") and b.get("rps") else None
            res["throughput"][op][c]["ratio"] = ratio
            res["throughput"][op][c]["met"] = None if ratio is None else ratio >= target
            w(f"| {c} | {fmt(k.get('rps'))} | {fmt(b.get('rps'))} | {fmt(ratio, 2, '×')} | "
              f"≥ {target}× | {verdict(None if ratio is None else ratio >= target)} |")
        w("")

    w("### Latency (wrk, per request)")
    w("")
    w("| operation | connections | Keyhaven p50 | Keyhaven p99 | OpenBao p50 | OpenBao p99 |")
    w("|---|---:|---:|---:|---:|---:|")
    for op, name in (("get", "GET"), ("set", "SET")):
        for c in conns:
            k = res["throughput"][op][c]["keyhaven"] or {}
            b = res["throughput"][op][c]["openbao"] or {}
            w(f"| {name} | {c} | {fmt(k.get('p50_ms'), 2, ' ms')} | {fmt(k.get('p99_ms'), 2, ' ms')} | "
              f"{fmt(b.get('p50_ms'), 2, ' ms')} | {fmt(b.get('p99_ms'), 2, ' ms')} |")
    w("")

    errs = []
    for op in ("get", "set"):
        for c in conns:
            for s in servers:
                r = res["throughput"][op][c][s] or {}
                if r.get("non_2xx") or r.get("socket_errors"):
                    errs.append(f"{s} {op} c={c}: {r.get('non_2xx')} non-2xx, "
                                f"{r.get('socket_errors')} socket errors")
    if errs:
        w("Errors during load (these runs count failed requests in req/s):")
        for e in errs:
            w(f"- {e}")
        w("")

    b = res["keyhaven"]["backup"] or {}
    cnt = res["keyhaven"]["count"] or {}
    ver = res["keyhaven"]["versions"] or {}
    bk = (b.get("backup") or {}).get("median_ms")
    rs = (b.get("restore") or {}).get("median_ms")
    w(f"### Backup / restore of one secret with {ver.get('versions_written', 'n/a')} versions (Keyhaven)")
    w("")
    w("| step | median | min | max | runs | target | result |")
    w("|---|---:|---:|---:|---:|---:|---|")
    for key, label, tgt in (("backup", "backup (POST /secrets/big/backup)", BACKUP_TARGET_MS),
                            ("restore", "restore (POST /secrets/restore)", None),
                            ("delete", "delete (before each restore)", None),
                            ("purge", "purge (before each restore)", None)):
        x = b.get(key) or {}
        ok = None if (tgt is None or x.get("median_ms") is None) else x["median_ms"] <= tgt
        w(f"| {label} | {fmt(x.get('median_ms'), 1, ' ms')} | {fmt(x.get('min_ms'), 1, ' ms')} | "
          f"{fmt(x.get('max_ms'), 1, ' ms')} | {len(x.get('runs_ms', []))} | "
          f"{'≤ %d ms' % tgt if tgt else '—'} | {verdict(ok) if tgt else '—'} |")
    w("")
    w(f"Blob: {fmt(b.get('blob_bytes'))} bytes (base64url); after restore the secret backs up to "
      f"{fmt(b.get('blob_bytes_after_restore'))} bytes. Versions listed before backup: "
      f"{cnt.get('versions', 'n/a')} ({'complete' if cnt.get('complete') else 'incomplete'} listing, "
      f"{cnt.get('pages', 'n/a')} pages, {fmt(cnt.get('seconds'), 2, ' s')}).")
    res["backup_met"] = None if bk is None else bk <= BACKUP_TARGET_MS
    w("")

    w("### Server RSS (VmRSS)")
    w("")
    w("| moment | Keyhaven | OpenBao |")
    w("|---|---:|---:|")
    for key, label in (("startup_kb", "just started"),
                       ("idle_seeded_kb", f"idle, {m.get('secrets', '?')} secrets seeded"),
                       ("load_peak_kb", "peak under wrk load (GET + SET runs)"),
                       ("after_load_kb", "1 s after load"),
                       ("versions_peak_kb", "peak while writing the many-version secret"),
                       ("backup_peak_kb", "peak during backup/restore")):
        k = res["rss"]["keyhaven"].get(key)
        o = res["rss"]["openbao"].get(key)
        w(f"| {label} | {fmt(mib(k), 1, ' MiB')} | {fmt(mib(o), 1, ' MiB') if key != 'backup_peak_kb' else '—'} |")
    w("")

    w("### Other figures from the same run")
    w("")
    w("| figure | Keyhaven | OpenBao |")
    w("|---|---:|---:|")
    ks, os_ = res["keyhaven"]["seed"] or {}, res["openbao"]["seed"] or {}
    w(f"| seeding {ks.get('secrets', 'n/a')} secrets (16 Python writers) | {fmt(ks.get('seconds'), 2, ' s')} | "
      f"{fmt(os_.get('seconds'), 2, ' s')} |")
    kv, ov = res["keyhaven"]["versions"] or {}, res["openbao"]["versions"] or {}
    w(f"| {kv.get('versions_written', 'n/a')} writes to ONE secret (32 Python writers) | "
      f"{fmt(kv.get('writes_per_sec'))} writes/s | {fmt(ov.get('writes_per_sec'))} writes/s |")
    w(f"| data dir at the end | {fmt(mib(res['keyhaven']['disk'].get('data_dir_kb')), 1, ' MiB')} | "
      f"{fmt(mib(res['openbao']['disk'].get('data_dir_kb')), 1, ' MiB')} |")
    w("")

    md = "\n".join(lines)
    with open(os.path.join(run, "results.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(md)


if __name__ == "__main__":
    main()
