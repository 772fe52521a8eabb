#!/usr/bin/env python3
"""Cuts `strace -f -ttt -yy` traces of the API and one worker into the stages of each request.

Used by bench/stage_breakdown (which says what each stage is). Requests run one at a time, so a
request is everything from the API reading a POST from a client to the next such read. Each
stage is the first matching socket syscall after the stage it follows:

  api_recv       API reads "POST" from the client connection (local port = --api-port)
  publish        API writes to an AMQP connection a frame naming the model (the routing key)
  confirm        API reads from that same AMQP connection                  (after publish)
  worker_recv    worker reads from an AMQP connection a frame naming the model (after publish)
  upstream_req   worker writes to the upstream (remote port = --upstream-port)
  first_token    worker's first read of the upstream's answer (the fake sends its head and first
                 line at once, so this is the first token's arrival)
  chunk_publish  worker writes to an AMQP connection
  api_chunk      API reads from an AMQP connection other than the publish one
  socket_write   API writes to the client connection, other than the response head (a chunk
                 of the SSE body: the first token's event)

confirm and worker_recv are both measured from publish: the broker confirms to the API and
delivers to the worker independently (the relay does not wait for the confirm before relaying a
chunk). Prints median, p10 and p90 of each stage's duration over the complete requests.
"""

import argparse
import re
import statistics
import sys

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
# name(fd<annotation>, args: a socket's annotation is "TCP:[a:p->b:q]", which holds a '>'.
CALL = re.compile(r"^(\w+)\((\d+)<((?:TCP6?|UDP6?|UNIX):\[[^\]]*\]|[^>]*)>,?\s*(.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>\s*(.*)$")
RESULT = re.compile(r"\)\s+=\s+(-?\d+)")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
READS = {"read", "readv", "recvfrom", "recvmsg"}
WRITES = {"write", "writev", "sendto", "sendmsg"}


def endpoints(desc):
    """(local port, remote port) of a TCP descriptor annotation, or None."""
    m = re.search(r"TCP6?:\[.*:(\d+)->.*:(\d+)\]", desc)
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse(path, who):
    """Completed socket reads/writes with data: (time, who, 'r'|'w', local, remote, data)."""
    pending = {}
    out = []
    with open(path, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            tid, t, rest = m.group(1), float(m.group(2)), m.group(3)
            r = RESUMED.match(rest)
            if r:
                if tid not in pending:
                    continue
                name, fd_desc, args = pending.pop(tid)
                args = args + r.group(2)
            else:
                c = CALL.match(rest)
                if not c:
                    continue
                name, fd_desc, args = c.group(1), c.group(3), c.group(4)
                if args.endswith("<unfinished ...>"):
                    pending[tid] = (name, fd_desc, args[: -len("<unfinished ...>")])
                    continue
            if name not in READS and name not in WRITES:
                continue
            res = RESULT.search(args)
            if not res or int(res.group(1)) <= 0:
                continue
            ep = endpoints(fd_desc)
            if not ep:
                continue
            q = QUOTED.search(args)
            data = q.group(1) if q else ""
            out.append((t, who, "r" if name in READS else "w", ep[0], ep[1], data))
    return out


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-trace", required=True)
    ap.add_argument("--worker-trace", required=True)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--amqp-port", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--model", default="llama3.2")
    a = ap.parse_args()
    events = sorted(parse(a.api_trace, "api") + parse(a.worker_trace, "worker"))

    def is_client(e):
        return e[1] == "api" and e[3] == a.api_port

    def is_amqp(e):
        return e[4] == a.amqp_port

    def is_upstream(e):
        return e[1] == "worker" and e[4] == a.upstream_port

    starts = [i for i, e in enumerate(events) if is_client(e) and e[2] == "r" and "POST" in e[5]]
    stages = ["api_recv", "publish", "confirm", "worker_recv", "upstream_req", "first_token", "chunk_publish",
              "api_chunk", "socket_write"]
    # stage -> (the stage it is measured from, predicate on an event given the times found so far)
    durations = {s: [] for s in stages[1:]}
    totals = []
    complete = 0
    for n, i in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(events)
        seg = events[i:end]
        t = {"api_recv": seg[0][0]}
        pub_conn = None

        def first(after, pred):
            for e in seg:
                if e[0] >= after and pred(e):
                    return e
            return None

        e = first(t["api_recv"], lambda e: e[1] == "api" and is_amqp(e) and e[2] == "w" and a.model in e[5])
        if not e:
            continue
        t["publish"], pub_conn = e[0], e[3]
        e = first(t["publish"], lambda e: e[1] == "api" and is_amqp(e) and e[2] == "r" and e[3] == pub_conn)
        e2 = first(t["publish"], lambda e: e[1] == "worker" and is_amqp(e) and e[2] == "r" and a.model in e[5])
        if not e or not e2:
            continue
        t["confirm"], t["worker_recv"] = e[0], e2[0]
        chain = [
            ("upstream_req", "worker_recv", lambda e: is_upstream(e) and e[2] == "w"),
            ("first_token", "upstream_req", lambda e: is_upstream(e) and e[2] == "r"),
            ("chunk_publish", "first_token", lambda e: e[1] == "worker" and is_amqp(e) and e[2] == "w"),
            ("api_chunk", "chunk_publish",
             lambda e: e[1] == "api" and is_amqp(e) and e[2] == "r" and e[3] != pub_conn),
            ("socket_write", "api_chunk", lambda e: is_client(e) and e[2] == "w" and not e[5].startswith("HTTP/")),
        ]
        ok = True
        for stage, prev, pred in chain:
            e = first(t[prev], pred)
            if not e:
                ok = False
                break
            t[stage] = e[0]
        if not ok:
            continue
        complete += 1
        durations["publish"].append(t["publish"] - t["api_recv"])
        durations["confirm"].append(t["confirm"] - t["publish"])
        durations["worker_recv"].append(t["worker_recv"] - t["publish"])
        for stage, prev, _ in chain:
            durations[stage].append(t[stage] - t[prev])
        totals.append(t["socket_write"] - t["api_recv"])
    if not complete:
        print(f"no complete request in the traces ({len(starts)} requests seen)", file=sys.stderr)
        return 1
    print(f"stages of {complete} complete requests (of {len(starts)} traced), microseconds:")
    print(f"  {'stage':<15} {'from':<13} {'p50':>8} {'p10':>8} {'p90':>8} {'share of p50 sum':>17}")
    froms = {"publish": "api_recv", "confirm": "publish", "worker_recv": "publish", "upstream_req": "worker_recv",
             "first_token": "upstream_req", "chunk_publish": "first_token", "api_chunk": "chunk_publish",
             "socket_write": "api_chunk"}
    on_path = [s for s in stages[1:] if s != "confirm"]
    path_sum = sum(statistics.median(durations[s]) for s in on_path)
    for s in stages[1:]:
        v = [x * 1e6 for x in durations[s]]
        share = f"{100 * statistics.median(durations[s]) / path_sum:.0f}%" if s in on_path else "(beside)"
        print(f"  {s:<15} {froms[s]:<13} {statistics.median(v):8.0f} {percentile(v, 10):8.0f} "
              f"{percentile(v, 90):8.0f} {share:>17}")
    tv = [x * 1e6 for x in totals]
    print(f"  {'api_recv -> socket_write':<29} {statistics.median(tv):8.0f} {percentile(tv, 10):8.0f} "
          f"{percentile(tv, 90):8.0f}   (the sum of the stages on the path, confirm aside)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
