#!/usr/bin/env python3
"""CPU taken by processes that are not part of the benchmark.

  cpuwatch.py snapshot FILE          record every process's CPU time
  cpuwatch.py diff FILE SELF_PID     CPU-seconds used since FILE by user-space
                                     processes other than SELF_PID, its
                                     ancestors and its descendants

A process's time includes the children it has waited for (cutime/cstime), so
short-lived compiler or test processes are counted through their long-lived
parent (cargo, a shell). Kernel threads (the kernel's own writeback and
journal work, which an fsync-heavy benchmark causes itself) are left out.
Prints JSON: {"other_cpu_s": x, "top": [[name, seconds], ...]}.
"""

import json
import os
import sys

HZ = os.sysconf("SC_CLK_TCK")


def read_all():
    procs = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        # rest[0] = state (field 3); field n is rest[n - 3]
        ppid = int(rest[1])
        cpu = sum(int(rest[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        start = int(rest[19])  # starttime
        procs[int(d)] = {"comm": comm, "ppid": ppid, "cpu": cpu, "start": start}
    return procs


def main():
    if sys.argv[1] == "snapshot":
        with open(sys.argv[2], "w") as f:
            json.dump({str(k): v for k, v in read_all().items()}, f)
        return 0

    with open(sys.argv[2]) as f:
        before = {int(k): v for k, v in json.load(f).items()}
    self_pid = int(sys.argv[3])
    now = read_all()

    # Ancestors of self (their children times include ours once we exit).
    excluded = set()
    p = self_pid
    while p in now and p not in excluded and p > 1:
        excluded.add(p)
        p = now[p]["ppid"]

    def is_descendant(pid):
        seen = set()
        while pid in now and pid not in seen and pid > 1:
            if pid == self_pid:
                return True
            seen.add(pid)
            pid = now[pid]["ppid"]
        return False

    per_name = {}
    total = 0
    for pid, info in now.items():
        if pid in excluded or pid == 2 or info["ppid"] == 2 or is_descendant(pid):
            continue
        old = before.get(pid)
        delta = info["cpu"] - old["cpu"] if old and old["start"] == info["start"] else info["cpu"]
        if delta > 0:
            total += delta
            key = f'{info["comm"]}[{pid}]'
            per_name[key] = per_name.get(key, 0) + delta
    top = sorted(((n, c) for n, c in per_name.items() if c / HZ >= 0.1), key=lambda kv: -kv[1])[:5]
    print(json.dumps({
        "other_cpu_s": round(total / HZ, 1),
        "top": [[n, round(c / HZ, 1)] for n, c in top],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
