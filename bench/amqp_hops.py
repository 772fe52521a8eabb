#!/usr/bin/env python3
"""Where a request's time goes between the processes, from a loopback capture of the AMQP port.

Usage: bench/amqp_hops.py CAPTURE.pcap AMQP_PORT [--json OUT]

Every request id (a UUID in an AMQP payload) is followed on the wire, at the moments the kernel
passed the segments over loopback: the first segment *to* the broker carrying it is the API's
publish of the request; the first *from* the broker is its delivery to a worker; the first to
the broker from another client port after that is the worker's first chunk; the first from the
broker to another port than the worker's after that is that chunk's delivery to the API. Prints
p50 / p90 / p99 of each hop in ms, then the delivery's hop per worker connection and per 250 ms
of the capture (a closed-loop load comes in waves), and the methods the clients sent (basic.qos,
basic.ack, basic.publish: the worker's prefetch changes per request). Stdlib only (reads pcap and pcap-ns, Ethernet
or Linux-cooked link layers, IPv4)."""
import json
import re
import struct
import sys

UUID = re.compile(rb'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}')
LINK_HEADER = {0: 4, 1: 14, 113: 16}


def segments(path, amqp_port):
    """(time, to_broker, client_port, payload) of every TCP segment with a payload."""
    with open(path, 'rb') as f:
        head = f.read(24)
        magic, = struct.unpack('<I', head[:4])
        nano = magic == 0xa1b23c4d
        linktype, = struct.unpack('<I', head[20:24])
        l2 = LINK_HEADER[linktype]
        while True:
            ph = f.read(16)
            if len(ph) < 16:
                return
            sec, frac, incl, _ = struct.unpack('<IIII', ph)
            data = f.read(incl)
            ip = data[l2:]
            if not ip or ip[0] >> 4 != 4:
                continue
            tcp = ip[(ip[0] & 15) * 4:]
            sport, dport = struct.unpack('>HH', tcp[:4])
            payload = tcp[(tcp[12] >> 4) * 4:]
            if payload:
                to_broker = dport == amqp_port
                yield sec + frac / (1e9 if nano else 1e6), to_broker, sport if to_broker else dport, payload


METHODS = {(60, 10): 'basic.qos', (60, 80): 'basic.ack', (60, 40): 'basic.publish', (60, 60): 'basic.deliver',
           (60, 50): 'basic.return', (60, 120): 'basic.nack'}


def methods_sent(streams):
    """Counts of METHODS in each client's byte stream (to or from the broker; frames: type,
    channel, size, payload, 0xCE; a capture that starts mid-frame resynchronises on the first
    whole frame)."""
    counts = dict.fromkeys(METHODS.values(), 0)
    for data in streams.values():
        i = 0
        while i + 7 <= len(data):
            ftype, size = data[i], struct.unpack('>I', data[i + 3:i + 7])[0]
            end = i + 7 + size
            if ftype not in (1, 2, 3, 8) or end >= len(data) or data[end] != 0xCE:
                i += 1  # not a frame boundary (or a frame cut off by the capture's end)
                continue
            if ftype == 1 and size >= 4:
                name = METHODS.get(struct.unpack('>HH', data[i + 7:i + 11]))
                if name:
                    counts[name] += 1
            i = end + 1
    return counts


def quantile(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p * len(v)))] * 1000


def main():
    path, port = sys.argv[1], int(sys.argv[2])
    seen = {}
    streams = {}  # client port -> bytes sent to the broker
    replies = {}  # client port -> bytes the broker sent it
    segs = {True: 0, False: 0}  # TCP segments with a payload, to / from the broker
    for t, to_broker, client, payload in segments(path, port):
        segs[to_broker] += 1
        (streams if to_broker else replies).setdefault(client, bytearray()).extend(payload)
        for rid in set(UUID.findall(payload)):
            events = seen.setdefault(rid, [])
            if len(events) < 12:
                events.append((t, to_broker, client))
    hops = {'publish -> delivered to a worker': [], 'delivered -> the worker\'s first chunk in': [],
            'chunk in -> chunk out to the API': [], 'publish -> first chunk out to the API': []}
    deliveries = []  # (publish time, hop, worker port)
    for events in seen.values():
        ins = [e for e in events if e[1]]
        outs = [e for e in events if not e[1]]
        if not ins or not outs:
            continue
        (t_in, _, api_port), (t_out, _, worker_port) = ins[0], outs[0]
        deliveries.append((t_in, t_out - t_in, worker_port))
        chunk_in = next((e for e in ins if e[2] != api_port and e[0] >= t_out), None)
        if chunk_in is None:
            continue
        chunk_out = next((e for e in outs if e[2] != worker_port and e[0] >= chunk_in[0]), None)
        hops['publish -> delivered to a worker'].append(t_out - t_in)
        hops['delivered -> the worker\'s first chunk in'].append(chunk_in[0] - t_out)
        if chunk_out:
            hops['chunk in -> chunk out to the API'].append(chunk_out[0] - chunk_in[0])
            hops['publish -> first chunk out to the API'].append(chunk_out[0] - t_in)
    report = {}
    for name, v in hops.items():
        if v:
            report[name] = {'n': len(v), 'p50': quantile(v, .5), 'p90': quantile(v, .9), 'p99': quantile(v, .99)}
            print(f'{name:42s} n={len(v):5d}  p50 {quantile(v, .5):7.2f}  p90 {quantile(v, .9):7.2f}  '
                  f'p99 {quantile(v, .99):7.2f} ms')
    if not deliveries:
        print('no request seen on the wire')
        return 1
    by_worker = {}
    for _, d, w in deliveries:
        by_worker.setdefault(w, []).append(d)
    for w, v in sorted(by_worker.items()):
        print(f'delivery to worker port {w}: n={len(v)} p50 {quantile(v, .5):.2f} p90 {quantile(v, .9):.2f} ms')
    deliveries.sort()
    t0 = deliveries[0][0]
    waves = {}
    for t, d, _ in deliveries:
        waves.setdefault(int((t - t0) * 4), []).append(d)
    print('publish -> delivered, per 250 ms of the capture (slot: requests / p50 / p90 / max ms):')
    print(' '.join(f'{k}:{len(v)}/{quantile(v, .5):.0f}/{quantile(v, .9):.0f}/{max(v) * 1000:.0f}'
                   for k, v in sorted(waves.items())))
    n = len(deliveries)
    for label, data in (('methods sent to the broker', streams), ('methods the broker sent', replies)):
        counted = {k: v for k, v in methods_sent(data).items() if v}
        report[label] = counted
        print(f'{label}: ' + ', '.join(f'{name} {c} ({c / n:.2f} per request)' for name, c in counted.items()))
    report['segments'] = {'to the broker': segs[True], 'from the broker': segs[False]}
    print(f'TCP segments with data: to the broker {segs[True]} ({segs[True] / n:.1f} per request), '
          f'from it {segs[False]} ({segs[False] / n:.1f} per request)')
    if '--json' in sys.argv:
        with open(sys.argv[sys.argv.index('--json') + 1], 'w') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
