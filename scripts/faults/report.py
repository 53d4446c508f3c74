#!/usr/bin/env python3
"""Reads what scripts/faults/netns left in its work directory and prints the
figures: per path, sent, acknowledged, handled, lost, handled twice, and each
fault's recovery. Exits 1 if an acknowledged delivery was lost or the inbox
handled one twice in its database."""

import collections
import json
import pathlib
import sys

work = pathlib.Path(sys.argv[1])


def lines(name):
    path = work / name
    return path.read_text().splitlines() if path.exists() else []


def handler_runs(kind):
    """id -> [(time, host)] for each handler run printed on stdout."""
    runs = collections.defaultdict(list)
    for host in ("r1", "r2"):
        for line in lines(f"{host}-{kind}.out"):
            stamp, _, text = line.partition(" ")
            try:
                runs[json.loads(text)["id"]].append((float(stamp), host))
            except (ValueError, KeyError):
                pass
    return runs


def starts():
    """id -> [(time, host, attempt)] for each inbox attempt started."""
    started = collections.defaultdict(list)
    for host in ("r1", "r2"):
        for line in lines(f"{host}-inbox.err"):
            stamp, _, text = line.partition(" ")
            try:
                record = json.loads(text)
                started[record["started"]].append((float(stamp), host, record["attempt"]))
            except (ValueError, KeyError, TypeError):
                pass
    return started


faults = []
open_faults = {}
for line in lines("faults.log"):
    stamp, edge, kind, host = line.split()
    if edge == "start":
        open_faults[(kind, host)] = float(stamp)
    else:
        faults.append((kind, host, open_faults.pop((kind, host)), float(stamp)))


def recovery(log, host_index):
    """Seconds from each fault's end to the first 2xx from an affected host."""
    out = []
    for kind, host, began, ended in faults:
        targets = {0, 1} if host == "both" else {host_index[host]}
        first = min((t for t, target, _, status in log
                     if target in targets and t >= ended and 200 <= status < 300), default=None)
        out.append(f"{kind} {host} ({ended - began:.1f} s): "
                   + (f"{first - ended:.2f} s" if first is not None else "no 2xx after it"))
    return out


failed = False
for kind in ("inbox", "redis"):
    summary = json.loads((work / f"{kind}.json").read_text())
    acked = set(summary["acked"])
    log = summary["log"]
    statuses = collections.Counter(str(status) for _, _, _, status in log)
    runs = handler_runs(kind)
    if kind == "inbox":
        in_db = {}
        for row in lines("inbox-handled.tsv"):
            webhook_id, count = row.split("\t")
            in_db[webhook_id] = int(count)
        handled = set(in_db)
        twice_db = sorted(i for i, n in in_db.items() if n > 1)
    else:
        handled = set(runs)
        twice_db = []
    lost = sorted(acked - handled)
    twice_runs = sorted(i for i, r in runs.items() if len(r) > 1)
    print(f"== {kind} path")
    print(f"  sent {summary['sent']}, acknowledged {len(acked)}, handled {len(handled)}, "
          f"lost {len(lost)}, requests {len(log)} {dict(sorted(statuses.items()))}")
    if kind == "inbox":
        # Two attempts of one delivery at once: a later attempt started while
        # an earlier one had started and not yet printed its completion.
        concurrent = 0
        started = starts()
        for webhook_id, attempts in started.items():
            attempts.sort()
            completions = runs.get(webhook_id, [])
            for (t1, host1, _), (t2, _, _) in zip(attempts, attempts[1:]):
                # Attempt 1 completed (on its host) only after attempt 2 began.
                if any(host == host1 and t1 <= d and d > t2 for d, host in completions):
                    concurrent += 1
        print(f"  handled twice in the database {len(twice_db)} (must be 0); handler ran to the "
              f"end twice {len(twice_runs)}; overlapping attempts {concurrent}")
        print("  inbox rows by state: " + ", ".join(lines("inbox-states.txt")))
        failed |= bool(lost) or bool(twice_db)
    else:
        print(f"  handler ran twice {len(twice_runs)} (in-request handling: see model/replay.pml -DPARTITION)")
        failed |= bool(lost)
    for line in recovery(log, {"r1": 0, "r2": 1}):
        print(f"  recovery after {line}")
    if lost:
        print(f"  LOST: {lost[:10]}")
    if twice_db:
        print(f"  TWICE: {twice_db[:10]}")
sys.exit(1 if failed else 0)
