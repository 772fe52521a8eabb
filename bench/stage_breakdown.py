#!/usr/bin/env python3
"""Cuts syscall traces of the API and one worker into the stages of each request.

Two kinds of trace, the same stages:
- `perf` (the default of bench/stage_breakdown): `perf script -F pid,tid,time,event,trace` of
  the syscalls' enter and exit tracepoints, plus `snapshot` files of both processes' descriptors
  taken during the run (`stage_breakdown.py snapshot`), which say what each fd is. The kernel
  records these without stopping the process: a few microseconds per syscall, not tens. A read
  counts when it returns data (its exit), a write when it starts (its enter). The data is not
  seen, so a stage is known by its connection and its order alone.
- `strace -f -ttt -yy` (`--tracer strace`): stops the processes at every syscall, but shows the
  data (the POST, the model in the publish and the delivery, the response head).

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
import os
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


class Kinds:
    """Which connection a socket is, from its ports."""

    def __init__(self, a):
        self.a = a

    def of(self, who, local, remote):
        if who == "api" and local == self.a.api_port:
            return "client"
        if remote == self.a.amqp_port:
            return "amqp"
        if who == "worker" and remote == self.a.upstream_port:
            return "upstream"
        return None


def parse_strace(path, who, kinds):
    """Completed socket reads/writes with data: (time, who, 'r'|'w', kind, connection, data)."""
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
            kind = kinds.of(who, *ep) if ep else None
            if not kind:
                continue
            q = QUOTED.search(args)
            data = q.group(1) if q else ""
            out.append((t, who, "r" if name in READS else "w", kind, ep[0], data))
    return out


def tcp_ports():
    """socket inode -> (local port, remote port), from /proc/net/tcp and tcp6."""
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    ports[cols[9]] = (int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def snapshot(pids, out_path):
    """Appends "pid fd local remote" for every TCP socket the processes hold now."""
    ports = tcp_ports()
    with open(out_path, "a") as out:
        for pid in pids:
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                m = re.match(r"socket:\[(\d+)\]", link)
                if m and m.group(1) in ports:
                    out.write(f"{pid} {fd} {ports[m.group(1)][0]} {ports[m.group(1)][1]}\n")


PERF_LINE = re.compile(r"^\s*(\d+)/(\d+)\s+(\d+\.\d+):\s+syscalls:sys_(enter|exit)_(\w+):\s*(.*)$")


def parse_perf(path, snapshot_path, pids, kinds):
    """The same events as parse_strace (data empty) from `perf script -F pid,tid,time,event,trace`.

    An fd counts only if every snapshot saw it as the same kind of connection (an fd closed and
    reused for another kind during the run is left out)."""
    seen = {}
    with open(snapshot_path) as f:
        for line in f:
            pid, fd, local, remote = line.split()
            who = pids.get(int(pid))
            if who:
                seen.setdefault((who, int(fd)), set()).add((kinds.of(who, int(local), int(remote)), int(local)))
    conn = {k: next(iter(v)) for k, v in seen.items() if len(v) == 1 and next(iter(v))[0]}
    entered = {}
    out = []
    with open(path, errors="replace") as f:
        for raw in f:
            m = PERF_LINE.match(raw)
            if not m:
                continue
            pid, tid, t, phase, name, args = int(m.group(1)), m.group(2), float(m.group(3)), m.group(4), m.group(5), \
                m.group(6)
            if name not in READS and name not in WRITES:
                continue
            if phase == "enter":
                fd = re.match(r"fd: (0x[0-9a-f]+)", args)
                entered[tid] = (t, int(fd.group(1), 16)) if fd else None
                continue
            start = entered.pop(tid, None)
            ret = int(args.split()[0], 16)
            if not start or ret >= 1 << 63 or ret == 0:
                continue  # no matching enter, an error (negative) or nothing read
            who = pids.get(pid)
            c = conn.get((who, start[1]))
            if not c:
                continue
            # A read counts when its data arrived (the exit), a write when it leaves (the enter).
            out.append((t if name in READS else start[0], who, "r" if name in READS else "w", c[0], c[1], None))
    return out


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "snapshot":
        ap = argparse.ArgumentParser(prog="stage_breakdown.py snapshot")
        ap.add_argument("--out", required=True)
        ap.add_argument("pids", nargs="+", type=int)
        a = ap.parse_args(sys.argv[2:])
        snapshot(a.pids, a.out)
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--api-trace", help="strace output of the API")
    ap.add_argument("--worker-trace", help="strace output of the worker")
    ap.add_argument("--perf-script", help="perf script output of both")
    ap.add_argument("--snapshots", help="descriptor snapshots (with --perf-script)")
    ap.add_argument("--api-pid", type=int)
    ap.add_argument("--worker-pid", type=int)
    ap.add_argument("--api-port", type=int, required=True)
    ap.add_argument("--amqp-port", type=int, required=True)
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--model", default="llama3.2")
    a = ap.parse_args()
    kinds = Kinds(a)
    if a.perf_script:
        events = sorted(parse_perf(a.perf_script, a.snapshots, {a.api_pid: "api", a.worker_pid: "worker"}, kinds),
                        key=lambda e: e[0])
        with_data = False
    else:
        events = sorted(parse_strace(a.api_trace, "api", kinds) + parse_strace(a.worker_trace, "worker", kinds))
        with_data = True

    def names_model(e):
        return not with_data or a.model in e[5]

    def is_client(e):
        return e[1] == "api" and e[3] == "client"

    def is_amqp(e):
        return e[3] == "amqp"

    def is_upstream(e):
        return e[1] == "worker" and e[3] == "upstream"

    if with_data:
        starts = [i for i, e in enumerate(events) if is_client(e) and e[2] == "r" and "POST" in e[5]]
    else:
        # A request starts with the first read from the client after the API last wrote to it.
        starts, last = [], "w"
        for i, e in enumerate(events):
            if is_client(e):
                if e[2] == "r" and last == "w":
                    starts.append(i)
                last = e[2]
    stages = ["api_recv", "publish", "confirm", "worker_recv", "upstream_req", "first_token", "chunk_publish",
              "api_chunk", "socket_write"]
    durations = {s: [] for s in stages[1:]}
    totals = []
    complete = 0
    for n, i in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(events)
        seg = events[i:end]
        t = {"api_recv": seg[0][0]}
        pub_conn = None

        def first(after, pred, skip=0):
            for e in seg:
                if e[0] >= after and pred(e):
                    if skip == 0:
                        return e
                    skip -= 1
            return None

        e = first(t["api_recv"], lambda e: e[1] == "api" and is_amqp(e) and e[2] == "w" and names_model(e))
        if not e:
            continue
        t["publish"], pub_conn = e[0], e[4]
        e = first(t["publish"], lambda e: e[1] == "api" and is_amqp(e) and e[2] == "r" and e[4] == pub_conn)
        e2 = first(t["publish"], lambda e: e[1] == "worker" and is_amqp(e) and e[2] == "r" and names_model(e))
        if not e or not e2:
            continue
        t["confirm"], t["worker_recv"] = e[0], e2[0]
        chain = [
            ("upstream_req", "worker_recv", lambda e: is_upstream(e) and e[2] == "w"),
            ("first_token", "upstream_req", lambda e: is_upstream(e) and e[2] == "r"),
            ("chunk_publish", "first_token", lambda e: e[1] == "worker" and is_amqp(e) and e[2] == "w"),
            ("api_chunk", "chunk_publish",
             lambda e: e[1] == "api" and is_amqp(e) and e[2] == "r" and e[4] != pub_conn),
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
        # The first token's event: with the data, the first write that is not the response head;
        # without, the response head is a write of its own (http/chunked_response), made at the
        # confirm or the first chunk, whichever came first, so it comes after api_chunk only if no
        # write to the client came before it.
        if with_data:
            e = first(t["api_chunk"], lambda e: is_client(e) and e[2] == "w" and not e[5].startswith("HTTP/"))
        else:
            head_before = any(is_client(x) and x[2] == "w" and x[0] < t["api_chunk"] for x in seg)
            e = first(t["api_chunk"], lambda e: is_client(e) and e[2] == "w", skip=0 if head_before else 1)
        if not e:
            continue
        t["socket_write"] = e[0]
        chain.append(("socket_write", "api_chunk", None))
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
