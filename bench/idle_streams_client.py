#!/usr/bin/env python3
"""Holds N streaming chat requests open against llmproxy, for bench/run_idle_streams.

Each stream is one keep-alive connection with one streaming POST /api/chat whose prompt carries
the fake Ollama's [[stall]] trigger: one token, then silence until the client disconnects. A
stream counts as held once its 200 head and its first SSE event arrived. When all N are held (or
have failed), the client prints one line, "held <n> failed <m> seconds <s>", and waits for a line
(or EOF) on stdin; then it closes every connection and exits. Failures print their first status
line or error to stderr (at most 5).

Usage: idle_streams_client.py --url http://127.0.0.1:PORT --streams N [--model M] [--parallel K]
"""

import argparse
import asyncio
import json
import sys
import time


async def open_stream(host, port, body, sem, writers, failures):
    async with sem:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as e:
            failures.append(f"connect: {e}")
            return False
        writers.append(writer)
        head = (
            f"POST /api/chat HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        writer.write(head + body)
        try:
            status = await reader.readline()
            if b" 200 " not in status:
                failures.append(status.decode(errors="replace").strip() or "connection closed")
                return False
            await reader.readuntil(b"\r\n\r\n")  # the rest of the head
            # The first SSE event (the stalled stream's one token) ends with a blank line.
            await reader.readuntil(b"\n\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as e:
            failures.append(f"read: {e!r}")
            return False
        return True


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--streams", type=int, required=True)
    ap.add_argument("--model", default="llama3.2:latest")
    ap.add_argument("--parallel", type=int, default=256, help="connections being opened at once")
    a = ap.parse_args()
    hostport = a.url.split("://", 1)[-1].rstrip("/")
    host, port = hostport.rsplit(":", 1)
    body = json.dumps(
        {
            "model": a.model,
            "stream": True,
            "messages": [{"role": "user", "content": "say something, then wait [[stall]]"}],
        }
    ).encode()
    sem = asyncio.Semaphore(a.parallel)
    writers, failures = [], []
    t0 = time.monotonic()
    results = await asyncio.gather(
        *(open_stream(host, int(port), body, sem, writers, failures) for _ in range(a.streams))
    )
    held = sum(1 for r in results if r)
    print(f"held {held} failed {a.streams - held} seconds {time.monotonic() - t0:.1f}", flush=True)
    for f in failures[:5]:
        print(f"idle_streams_client: {f}", file=sys.stderr)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for w in writers:
        w.close()
    for w in writers:
        try:
            await w.wait_closed()
        except OSError:
            pass


if __name__ == "__main__":
    asyncio.run(main())
