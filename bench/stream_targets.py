#!/usr/bin/env python3
"""Issue 13's targets table from the reports bench/run_stream_targets leaves in one directory.

Usage: bench/stream_targets.py OUT_DIR STEP...

Reads each step's JSON results (bench/run_streaming's <scenario>-floor/-llmproxy/-baseline.json)
or report (bench/run_idle_streams, bench/run_audit_ingest) and prints one markdown table: the
target, the figure measured through llmproxy, the reference it is judged against (the ideal rate
of a paced run, the floor straight to the fake Ollama, the bare consumer), the --baseline-bin
build's figure and the ratio to it when there is one, and whether the target is met. A step
whose results are missing gives a row saying so, never a made-up figure.
"""

import json
import os
import re
import sys

# step -> (scenario tag, token delay in ms or None for full speed)
STREAMING = {
    "paced128": ("ollama-10", 10),
    "paced1000": ("ollama-30", 30),
    "full128": ("ollama-0", None),
    "door-native": ("ollama-0", None),
    "door-openai": ("ollama-0", None),
    "door-ollama": ("ollama-0", None),
    "streams2000": ("ollama-0", None),
}


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, int) or abs(v) >= 100:
        return f"{v:,.0f}{unit}"
    return f"{v:.2f}{unit}"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, item, step, target, measured, reference, ok, base=None, ratio=None):
        met = "-" if ok is None else ("**met**" if ok else "not met")
        self.rows.append((item, step, target, measured, reference, base or "-", ratio or "-", met))

    def missing(self, item, step, what):
        self.rows.append((item, step, what, "no result (see the step's log)", "-", "-", "-", "not met"))

    def print(self):
        head = ("item", "step", "target", "measured", "reference", "--baseline-bin", "vs baseline", "met")
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join(["---"] * len(head)) + "|")
        for r in self.rows:
            print("| " + " | ".join(r) + " |")


def baseline_cells(base, key, value, unit=""):
    """The baseline build's figure and the ratio of this build's to it."""
    if base is None or value is None:
        return None, None
    b = key(base)
    if b is None:
        return None, None
    return fmt(b, unit), (f"{value / b:.2f}x" if b else "-")


def ttft(j, q):
    return j["ttft_ms"][q] if j else None


def streaming(t, out, step):
    tag, delay = STREAMING[step]
    d = os.path.join(out, step)
    floor = load(os.path.join(d, f"{tag}-floor.json"))
    proxy = load(os.path.join(d, f"{tag}-llmproxy.json"))
    base = load(os.path.join(d, f"{tag}-baseline.json"))
    if proxy is None:
        t.missing("-", step, "every target of this step")
        return
    c, tokens = proxy["concurrency"], proxy["tokens_per_request"]
    errors = proxy["errors"]
    rps = proxy["requests_per_s"]
    if delay is not None:
        item = "1" if step == "paced128" else "1 (1,000 streams)"
        ideal = c * 1000.0 / (tokens * delay)
        b, r = baseline_cells(base, lambda j: j["requests_per_s"], rps)
        t.add(item, step, f"req/s >= 0.95x ideal ({c} streams x {tokens} tokens at {delay} ms)",
              f"{fmt(rps)} ({rps / ideal:.2f}x), {errors} errors", f"ideal {fmt(ideal)}; floor "
              f"{fmt(floor['requests_per_s']) if floor else '-'}", rps >= 0.95 * ideal and errors == 0, b, r)
        p99 = ttft(proxy, "p99")
        b, r = baseline_cells(base, lambda j: ttft(j, "p99"), p99, " ms")
        t.add(item, step, "TTFT p99 <= 20 ms", fmt(p99, " ms"),
              f"floor {fmt(ttft(floor, 'p99'), ' ms')}", p99 <= 20, b, r)
        cpu = proxy.get("cpu_us_per_token")
        b, r = baseline_cells(base, lambda j: j.get("cpu_us_per_token"), cpu, " µs")
        t.add(item, step, "CPU per token (api + workers + RabbitMQ) <= 25 µs", fmt(cpu, " µs"), "-",
              cpu is not None and cpu <= 25, b, r)
        if step == "paced128":
            lag = re.search(r"lag p50 (\S+ [\d.]+) s, p99 (\S+) ([\d.]+) s",
                            read(os.path.join(d, f"{tag}-llmproxy.ttft.txt")))
            if lag:
                p99_lag = float(lag.group(3))
                t.add("6", step, "audit lag p99 <= 1 s while this runs", f"p99 {lag.group(2)} {p99_lag} s",
                      "-", lag.group(2) == "<=" and p99_lag <= 1)
            else:
                t.missing("6", step, "audit lag p99 <= 1 s")
        return
    if step == "full128":
        ref = floor["requests_per_s"] if floor else None
        b, r = baseline_cells(base, lambda j: j["requests_per_s"], rps)
        t.add("2", step, "req/s >= 0.5x the floor, 0 errors",
              f"{fmt(rps)} ({rps / ref:.2f}x), {errors} errors" if ref else fmt(rps), f"floor {fmt(ref)}",
              ref is not None and rps >= 0.5 * ref and errors == 0, b, r)
        return
    if step.startswith("door-"):
        door = step[len("door-"):]
        for q, limit in (("p50", 1.0), ("p99", 3.0)):
            added = ttft(proxy, q) - ttft(floor, q) if floor else None
            b, r = None, None
            if base is not None and floor is not None:
                b = f"+{ttft(base, q) - ttft(floor, q):.2f} ms"
            t.add("3", step, f"added TTFT {q} <= {limit} ms ({door} door, one stream)",
                  f"+{added:.2f} ms ({fmt(ttft(proxy, q), ' ms')})" if added is not None else "-",
                  f"floor {fmt(ttft(floor, q), ' ms')}", added is not None and added <= limit and errors == 0, b, r)
        return
    if step == "streams2000":
        p99 = ttft(proxy, "p99")
        b, r = baseline_cells(base, lambda j: ttft(j, "p99"), p99, " ms")
        t.add("4", step, f"{c:,} streams: 0 errors, TTFT p99 <= 500 ms", f"{errors} errors, p99 {fmt(p99, ' ms')}",
              f"floor p99 {fmt(ttft(floor, 'p99'), ' ms')}", errors == 0 and p99 <= 500, b, r)


def idle(t, out):
    rows = {}
    for line in read(os.path.join(out, "idle.log")).splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] in ("baseline", "build") and f[1].isdigit():
            rows[f[0]] = {"held": int(f[1]), "failed": int(f[2]), "kib": float(f[7])}
    build = rows.get("build")
    if build is None:
        t.missing("5", "idle", "10,000 idle streams, <= 8 KiB RSS each")
        return
    base = rows.get("baseline")
    b = fmt(base["kib"], " KiB") if base else None
    r = f"{build['kib'] / base['kib']:.2f}x" if base and base["kib"] else None
    t.add("5", "idle", "10,000 idle streams on one API, <= 8 KiB RSS each",
          f"{build['held']:,} held, {build['failed']} failed, {build['kib']:.2f} KiB each", "-",
          build["held"] >= 10000 and build["failed"] == 0 and build["kib"] <= 8, b, r)


def audit(t, out):
    m = re.search(r"bare consumer (\d+) records/s, audit (\d+) records/s, ratio ([\d.]+)",
                  read(os.path.join(out, "audit.log")))
    if not m:
        t.missing("6", "audit", "ingest >= 0.9x the bare consumer")
        return
    bare, rate, ratio = int(m.group(1)), int(m.group(2)), float(m.group(3))
    t.add("6", "audit", "ingest >= 0.9x the bare-consumer baseline", f"{rate:,} records/s ({ratio:.2f}x)",
          f"bare consumer {bare:,} records/s", ratio >= 0.9)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    out, steps = argv[1], argv[2:]
    t = Table()
    for step in steps:
        if step in STREAMING:
            streaming(t, out, step)
        elif step == "idle":
            idle(t, out)
        elif step == "audit":
            audit(t, out)
    t.print()
    met = sum(1 for r in t.rows if r[-1] == "**met**")
    print(f"\n{met} of {len(t.rows)} targets met.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
