#!/usr/bin/env python3
"""Load steps, CPU accounting and the report of bench/keys.sh.

  keys_tool.py step --pid PID --out FILE [wrk options] URL
      runs one wrk step against URL and writes FILE (wrk's output) and
      FILE.cpu.json: wall time, CPU-seconds of the server process (all its
      threads), of wrk, and of the whole machine during the step.
  keys_tool.py hotcode --perf-report FILE --lib PATH
      reads `perf report --sort dso,sym` output and tells which share of the
      samples in an unsymbolised library falls on code that uses AVX-512 IFMA
      multiply-add instructions (vpmadd52*), i.e. OpenSSL's big-number
      Montgomery multiplication for RSA on this CPU.
  keys_tool.py report RUNDIR
      turns a run directory into results.md and results.json and prints the
      Markdown on stdout.

Standard library only. Nothing is assumed: a figure missing from the raw
files is printed as "n/a".
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt, meta, parse_wrk, verdict  # noqa: E402  (bench/report.py, reused as is)

HZ = os.sysconf("SC_CLK_TCK")

# Operation ids, in the order the run measures them.
OPS = (
    ("rsa-sign", "RSA-2048 sign (RS256)"),
    ("es256-sign", "EC P-256 sign (ES256)"),
    ("rsa-decrypt", "RSA-2048 decrypt (RSA-OAEP-256)"),
    ("aes-encrypt", "AES-256-GCM encrypt, 32-byte message"),
)
SIGN_RAW_TARGET = 0.60      # Keyhaven RSA sign / raw 2-core OpenSSL sign rate
TARGETS = {                 # Keyhaven / OpenBao, same operation, same run
    "rsa-sign": 3.5,
    "es256-sign": 2.5,
    "aes-encrypt": 2.5,
}


# ------------------------------------------------------------------ step ---

def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    rest = raw[raw.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # utime + stime, all threads


def machine_ticks():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                v = [int(x) for x in line.split()[1:]]
                user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
                return {
                    "busy": user + nice + system + irq + softirq,
                    "idle": idle + iowait,
                    "steal": steal,
                }
    raise RuntimeError("no cpu line in /proc/stat")


def cmd_step(a):
    cmd = ["timeout", str(a.duration + 30), "wrk", "-t", str(a.threads), "-c", str(a.conns),
           "-d", f"{a.duration}s", "--timeout", "5s", "--latency", "-s", a.script, a.url]
    s0, m0 = proc_cpu_ticks(a.pid), machine_ticks()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(a.out, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    s1, m1 = proc_cpu_ticks(a.pid), machine_ticks()
    cpu = {
        "wall_s": round(wall, 3),
        "server_cpu_s": round((s1 - s0) / HZ, 2),
        "wrk_cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 2),
        "machine_busy_s": round((m1["busy"] - m0["busy"]) / HZ, 2),
        "machine_idle_s": round((m1["idle"] - m0["idle"]) / HZ, 2),
        "steal_s": round((m1["steal"] - m0["steal"]) / HZ, 2),
        "server_threads_after": len(os.listdir(f"/proc/{a.pid}/task")),
        "wrk_rc": rc,
    }
    with open(a.out + ".cpu.json", "w") as f:
        json.dump(cpu, f)
    if rc != 0:
        sys.stderr.write(open(a.out).read())
        return 1
    return 0


# --------------------------------------------------------------- hotcode ---

def cmd_hotcode(a):
    """Share of a library's samples on code near vpmadd52* instructions."""
    lib_name = os.path.basename(a.lib)
    rows = []
    for line in open(a.perf_report):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[\.\]\s+(0x[0-9a-f]+)\s*$", line)
        if m and m.group(2) == lib_name:
            rows.append((float(m.group(1)), int(m.group(3), 16)))
    total = sum(p for p, _ in rows)
    ifma = 0.0
    cache = {}
    for pct, addr in rows[:200]:
        win = addr // 256
        if win not in cache:
            out = subprocess.run(
                ["objdump", "-d", f"--start-address={hex(max(0, win * 256 - 128))}",
                 f"--stop-address={hex(win * 256 + 384)}", a.lib],
                capture_output=True, text=True).stdout
            cache[win] = "vpmadd52" in out
        if cache[win]:
            ifma += pct
    print(json.dumps({"lib": lib_name, "lib_samples_pct": round(total, 2),
                      "ifma_code_pct": round(ifma, 2), "addresses_checked": min(len(rows), 200)}))
    return 0


# ---------------------------------------------------------------- report ---

def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read(path):
    try:
        return open(path).read()
    except OSError:
        return ""


def openssl_figures(d):
    """Rates from the `openssl speed` outputs of the run (sums over the -multi children).

    RSA and ECDSA are measured at the start and again at the end of the run;
    the ratios use the higher of the two, the stricter choice for Keyhaven.
    """
    o = {}
    for sfx, tag in (("", "start"), ("-end", "end")):
        m = re.search(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)\s*$",
                      read(os.path.join(d, f"rsa2048{sfx}.txt")), re.M)
        o[f"rsa2048_sign_s_{tag}"] = float(m.group(1)) if m else None
        o[f"rsa2048_verify_s_{tag}"] = float(m.group(2)) if m else None
        m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)\s*$",
                      read(os.path.join(d, f"ecdsap256{sfx}.txt")), re.M)
        o[f"p256_sign_s_{tag}"] = float(m.group(1)) if m else None
        o[f"p256_verify_s_{tag}"] = float(m.group(2)) if m else None
    for k in ("rsa2048_sign_s", "rsa2048_verify_s", "p256_sign_s", "p256_verify_s"):
        vals = [v for v in (o[f"{k}_start"], o[f"{k}_end"]) if v]
        o[k] = max(vals) if vals else None
    # openssl speed prints symmetric figures in 1000s of bytes per second.
    for key, fname in (("gcm_stream_64_Bps", "aes-256-gcm-64.txt"), ("gcm_aead_32_Bps", "aes-256-gcm-aead-32.txt")):
        m = re.search(r"^AES-256-GCM\s+([\d.]+)k\s*$", read(os.path.join(d, fname)), re.M)
        o[key] = float(m.group(1)) * 1000 if m else None
    o["gcm_stream_32B_msgs_s_upper"] = o["gcm_stream_64_Bps"] / 32 if o["gcm_stream_64_Bps"] else None
    o["gcm_stream_64B_calls_s"] = o["gcm_stream_64_Bps"] / 64 if o["gcm_stream_64_Bps"] else None
    o["gcm_aead_32B_msgs_s"] = o["gcm_aead_32_Bps"] / 32 if o["gcm_aead_32_Bps"] else None
    return o


def raw_rate(op, o):
    """The raw 2-core OpenSSL rate set beside each operation."""
    return {
        "rsa-sign": o["rsa2048_sign_s"],
        "rsa-decrypt": o["rsa2048_sign_s"],  # the same RSA-2048 private-key operation
        "es256-sign": o["p256_sign_s"],
        "aes-encrypt": o["gcm_aead_32B_msgs_s"],
    }[op]


def perf_summary(path):
    """Top DSOs and symbols of one `perf report` file written by keys.sh."""
    text = read(path)
    if not text:
        return None
    dsos, syms = [], []
    sect = None
    for line in text.splitlines():
        if line.startswith("== dso"):
            sect = dsos
            continue
        if line.startswith("== sym"):
            sect = syms
            continue
        if sect is None or line.startswith("#") or not line.strip():
            continue
        m = re.match(r"\s*([\d.]+)%\s+(.*\S)\s*$", line)
        if m:
            sect.append((float(m.group(1)), re.sub(r"\s+", " ", m.group(2))))
    # Addresses in a library without symbols (the system libcrypto) are summed into one line.
    merged = {}
    for pct, name in syms:
        u = re.match(r"(\S+) \[\.\] 0x[0-9a-f]+$", name)
        key = f"{u.group(1)} (no symbols)" if u else name
        merged[key] = merged.get(key, 0.0) + pct
    syms = sorted(((v, n) for n, v in merged.items()), reverse=True)
    return {"dsos": dsos[:6], "syms": syms[:8]}


def ctxsw_per_request(base, m):
    """Server context switches per request over the perf window (perf stat), using wrk's rate
    over the whole profiling load (it covers that window)."""
    text = read(base + ".stat.csv")
    mm = re.search(r"^([\d.]+),[^,]*,context-switches", text, re.M)
    w = parse_wrk(base + ".wrk.txt") or {}
    try:
        secs = float(m.get("perf_seconds", "0"))
    except ValueError:
        return None
    if not mm or not w.get("rps") or not secs:
        return None
    return float(mm.group(1)) / secs / w["rps"]


def cmd_report(a):
    run = os.path.realpath(a.run)
    m = meta(os.path.join(run, "meta.txt"))
    conns = m.get("conns", "32 64").split()
    o = openssl_figures(os.path.join(run, "openssl"))
    res = {"meta": m, "openssl": o, "ops": {}}

    for op, _ in OPS:
        res["ops"][op] = {}
        for c in conns:
            row = {}
            for s in ("keyhaven", "openbao"):
                base = os.path.join(run, s, f"{op}-c{c}.txt")
                w = parse_wrk(base) or {}
                cpu = load_json(base + ".cpu.json") or {}
                if w.get("requests") and cpu.get("server_cpu_s") is not None:
                    cpu["server_cpu_us_per_op"] = 1e6 * cpu["server_cpu_s"] / w["requests"]
                if cpu.get("wall_s"):
                    cpu["server_cores"] = cpu["server_cpu_s"] / cpu["wall_s"]
                    cpu["wrk_cores"] = cpu["wrk_cpu_s"] / cpu["wall_s"]
                    cpu["machine_cores"] = cpu["machine_busy_s"] / cpu["wall_s"]
                row[s] = {"wrk": w, "cpu": cpu}
            k = row["keyhaven"]["wrk"].get("rps")
            b = row["openbao"]["wrk"].get("rps")
            raw = raw_rate(op, o)
            row["ratio_openbao"] = k / b if k and b else None
            row["pct_raw"] = k / raw if k and raw else None
            row["raw"] = raw
            checks = []
            if op == "rsa-sign":
                checks.append(("≥ 60% of raw", None if row["pct_raw"] is None else row["pct_raw"] >= SIGN_RAW_TARGET))
            if op in TARGETS:
                r = row["ratio_openbao"]
                checks.append((f"≥ {TARGETS[op]}× OpenBao", None if r is None else r >= TARGETS[op]))
            row["targets"] = checks
            res["ops"][op][c] = row

    lines = []
    w = lines.append
    w(f"Run {os.path.basename(run)}: {m.get('date_utc', '?')}, {m.get('nproc', '?')} cores ({m.get('cpu', '?')}), "
      f"kernel {m.get('kernel', '?')}; {m.get('openssl', '?')}; {m.get('openbao', '?')}; keyhaven "
      f"{m.get('keyhaven_commit', '?')} (binary built {m.get('keyhaven_binary', '?')}, libcrypto "
      f"{m.get('keyhaven_libcrypto', '?')}); wrk {m.get('wrk', '?')}")
    w(f"Parameters: wrk {m.get('threads', '?')} threads, {m.get('duration_s', '?')} s per step after a "
      f"{m.get('warmup_s', '?')} s warm-up per operation; connections {', '.join(conns)}; openssl speed "
      f"-seconds {m.get('ssl_seconds', '?')}; CPU busy before the run {m.get('cpu_busy_before_pct', '?')}%; "
      f"load average at start {m.get('loadavg_start', '?')}, at end {m.get('loadavg_end', '?')}; measuring part "
      f"took {m.get('elapsed_s', '?')} s; CPU used by other processes meanwhile {m.get('other_cpu_s', '?')} s "
      f"({m.get('other_cpu_top') or 'none'})")
    try:
        if int(m.get("cpu_busy_before_pct", "0")) > 10:
            w("")
            w(f"CAUTION: the machine was {m['cpu_busy_before_pct']}% busy just before the run; other processes "
              "were competing for the cores, so these figures are skewed.")
        other = float(m.get("other_cpu_s", "0"))
        cap = float(m.get("elapsed_s", "0")) * float(m.get("nproc", "1"))
        if cap and other > 0.05 * cap:
            w("")
            w(f"CAUTION: other processes used {other:.0f} CPU-seconds of the {cap:.0f} available during the run; "
              "these figures are skewed.")
    except ValueError:
        pass
    w("")

    w("### Raw OpenSSL rates (`openssl speed -multi 2`, the same libcrypto Keyhaven links)")
    w("")
    w("| primitive | start of run | end of run |")
    w("|---|---:|---:|")
    for k, label in (("rsa2048_sign_s", "RSA-2048 private-key op (sign; also the decrypt ceiling)"),
                     ("rsa2048_verify_s", "RSA-2048 verify"),
                     ("p256_sign_s", "ECDSA P-256 sign"),
                     ("p256_verify_s", "ECDSA P-256 verify")):
        w(f"| {label} | {fmt(o[k + '_start'], 0, ' /s')} | {fmt(o[k + '_end'], 0, ' /s')} |")
    g = o["gcm_stream_64_Bps"]
    w(f"| AES-256-GCM, `-evp`, 64-byte blocks (one stream, no per-message IV or tag) | "
      f"{fmt(g / 1e6 if g else None, 1)} MB/s | — |")
    w(f"| … as 32-byte messages: bytes/s ÷ 32, an upper bound only | {fmt(o['gcm_stream_32B_msgs_s_upper'], 0, ' /s')} | — |")
    w(f"| AES-256-GCM, `-aead -bytes 32` (per message: set IV, 13-byte AAD, 32 bytes, final) | "
      f"{fmt(o['gcm_aead_32B_msgs_s'], 0, ' /s')} | — |")
    w("")
    w("Ratios to the raw rate below use the higher of the start and end figures.")
    w("")

    w("### Throughput (operations per second, same run)")
    w("")
    w("| operation | conns | Keyhaven | OpenSSL raw (2 cores) | Keyhaven ÷ raw | OpenBao | Keyhaven ÷ OpenBao "
      "| targets | result |")
    w("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for op, title in OPS:
        for c in conns:
            r = res["ops"][op][c]
            tg = "; ".join(t for t, _ in r["targets"]) or "none"
            ok = "; ".join(verdict(v) for _, v in r["targets"]) or "—"
            w(f"| {title} | {c} | {fmt(r['keyhaven']['wrk'].get('rps'))} | {fmt(r['raw'])} | "
              f"{fmt(None if r['pct_raw'] is None else 100 * r['pct_raw'], 0 if (r['pct_raw'] or 0) >= 0.1 else 2, '%')} | "
              f"{fmt(r['openbao']['wrk'].get('rps'))} | {fmt(r['ratio_openbao'], 2, '×')} | {tg} | {ok} |")
    w("")

    need = []
    for op, title in OPS:
        if op not in TARGETS:
            continue
        for c in conns:
            r = res["ops"][op][c]
            b = r["openbao"]["wrk"].get("rps")
            if r["ratio_openbao"] is None or r["ratio_openbao"] >= TARGETS[op] or not b:
                continue
            want = TARGETS[op] * b
            # For AES-GCM the primitive is a small share of a request: its raw rate bounds nothing useful.
            asym = r["raw"] and op != "aes-encrypt"
            pct = f", {100 * want / r['raw']:.0f}% of the raw OpenSSL rate" if asym else ""
            ceiling = f"; the raw rate itself is {r['raw'] / b:.2f}× OpenBao" if asym else ""
            need.append(f"- {title}, {c} connections: {TARGETS[op]}× OpenBao would need "
                        f"{fmt(want)} ops/s{pct}{ceiling}.")
    if need:
        w("What the missed OpenBao ratios would have needed:")
        w("")
        lines.extend(need)
        w("")

    w("### Latency (wrk, per request)")
    w("")
    w("| operation | conns | Keyhaven p50 | Keyhaven p99 | OpenBao p50 | OpenBao p99 |")
    w("|---|---:|---:|---:|---:|---:|")
    for op, title in OPS:
        for c in conns:
            k = res["ops"][op][c]["keyhaven"]["wrk"]
            b = res["ops"][op][c]["openbao"]["wrk"]
            w(f"| {title} | {c} | {fmt(k.get('p50_ms'), 2, ' ms')} | {fmt(k.get('p99_ms'), 2, ' ms')} | "
              f"{fmt(b.get('p50_ms'), 2, ' ms')} | {fmt(b.get('p99_ms'), 2, ' ms')} |")
    w("")

    w("### CPU during each step (cores = CPU-seconds ÷ wall seconds; the machine has "
      f"{m.get('nproc', '?')}; threads = the server's threads at the end of the step)")
    w("")
    w("| operation | conns | Keyhaven cores | wrk cores | Keyhaven CPU per op | Keyhaven threads | OpenBao cores "
      "| wrk cores | OpenBao CPU per op | OpenBao threads | OpenSSL CPU per op |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    nproc = float(m.get("nproc", "2") or 2)
    for op, title in OPS:
        for c in conns:
            r = res["ops"][op][c]
            kc, bc = r["keyhaven"]["cpu"], r["openbao"]["cpu"]
            raw_us = nproc * 1e6 / r["raw"] if r["raw"] else None
            w(f"| {title} | {c} | {fmt(kc.get('server_cores'), 2)} | {fmt(kc.get('wrk_cores'), 2)} | "
              f"{fmt(kc.get('server_cpu_us_per_op'), 0, ' µs')} | {fmt(kc.get('server_threads_after'))} | "
              f"{fmt(bc.get('server_cores'), 2)} | {fmt(bc.get('wrk_cores'), 2)} | "
              f"{fmt(bc.get('server_cpu_us_per_op'), 0, ' µs')} | {fmt(bc.get('server_threads_after'))} | "
              f"{fmt(raw_us, 1 if raw_us and raw_us < 10 else 0, ' µs')} |")
    w("")

    errs = []
    for op, _ in OPS:
        for c in conns:
            for s in ("keyhaven", "openbao"):
                x = res["ops"][op][c][s]["wrk"]
                if not x:
                    errs.append(f"{s} {op} c={c}: no wrk output")
                elif x.get("non_2xx") or x.get("socket_errors"):
                    errs.append(f"{s} {op} c={c}: {x.get('non_2xx')} non-2xx, {x.get('socket_errors')} socket errors")
    if errs:
        w("Errors during load (wrk counts failed requests in its rate, so these figures are not clean):")
        for e in errs:
            w(f"- {e}")
    else:
        w("No step returned a non-2xx response or a socket error.")
    w("")

    prof = {}
    for s in ("keyhaven", "openbao"):
        for op, _ in OPS:
            p = perf_summary(os.path.join(run, s, f"perf-{op}.txt"))
            if p:
                prof.setdefault(s, {})[op] = p
                hc = load_json(os.path.join(run, s, f"perf-{op}.ifma.json"))
                if hc:
                    p["ifma"] = hc
                p["ctxsw_per_req"] = ctxsw_per_request(os.path.join(run, s, f"perf-{op}"), m)
    res["perf"] = prof
    if prof:
        w(f"### Where the servers spend their CPU (perf, {m.get('perf_seconds', '?')} s at "
          f"{m.get('perf_conns', '?')} connections per operation, after the measured steps)")
        w("")
        for s in ("keyhaven", "openbao"):
            for op, title in OPS:
                p = prof.get(s, {}).get(op)
                if not p:
                    continue
                d = ", ".join(f"{n} {v:.1f}%" for v, n in p["dsos"][:4])
                y = ", ".join(f"{n} {v:.1f}%" for v, n in p["syms"][:5])
                extra = ""
                if p.get("ctxsw_per_req") is not None:
                    extra += f" About {p['ctxsw_per_req']:.1f} context switches per request."
                if p.get("ifma") and p["ifma"].get("ifma_code_pct", 0) >= 1:
                    extra += (f" {p['ifma']['ifma_code_pct']:.1f}% of all samples fall on libcrypto code "
                              "that uses AVX-512 IFMA multiply-adds (RSA big-number arithmetic).")
                w(f"- {s}, {title}: by object: {d}. Top symbols: {y}.{extra}")
        w("")

    md = "\n".join(lines)
    with open(os.path.join(run, "results.md"), "w") as f:
        f.write(md + "\n")
    with open(os.path.join(run, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    print(md)
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("step")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--duration", type=int, required=True)
    p.add_argument("--script", required=True)
    p.add_argument("url")
    p = sub.add_parser("hotcode")
    p.add_argument("--perf-report", required=True)
    p.add_argument("--lib", required=True)
    p = sub.add_parser("report")
    p.add_argument("run")
    a = ap.parse_args()
    return {"step": cmd_step, "hotcode": cmd_hotcode, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
