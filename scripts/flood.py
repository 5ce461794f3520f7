#!/usr/bin/env python3
"""The connection flood behind BENCHMARKS.md, "Connection flood".

Starts the release gateway over the demo simulators, opens N sockets that each send half a
request line and then nothing, and while they are held measures:
  - how many the gateway keeps open (its creditgate_connections_open gauge),
  - time to first byte of GET /healthz from a normal client (20 samples, one per 250 ms),
  - the gateway's RSS (VmRSS) and peak RSS (VmHWM),
then waits out the header read timeout and counts the flood sockets the gateway closed.

Usage: scripts/flood.py [sockets, default 19500] [rounds, default 1]   (after `cargo build --release`)
With several rounds the same gateway takes one flood after another, which shows whether
its memory grows from round to round.
"""

import os
import resource
import socket
import subprocess
import sys
import time

PORT = 18190
# 19,500: this script needs descriptors of its own under the same 20,000 limit.
SOCKETS = int(sys.argv[1]) if len(sys.argv) > 1 else 19500
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
BINARY = os.path.join(os.path.dirname(__file__), "..", "target", "release", "creditgate")


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def ttfb_ms():
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        first = s.recv(1)
        if not first:
            return None
    return (time.monotonic() - started) * 1000


def gauge(name):
    with socket.create_connection(("127.0.0.1", PORT), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    for line in data.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line.rsplit(" ", 1)[1]
    return "?"


def flood_round(gateway, idle_rss):
    flood, refused = [], 0
    started = time.monotonic()
    for _ in range(SOCKETS):
        try:
            s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
            s.sendall(b"GET /healthz HT")
            flood.append(s)
        except OSError:
            refused += 1
    opened_in = time.monotonic() - started
    samples = []
    for _ in range(20):
        samples.append(ttfb_ms())
        time.sleep(0.25)
    held = gauge("creditgate_connections_open")
    shed = gauge("creditgate_connections_shed_total")
    flood_rss = rss_kib(gateway.pid, "VmRSS")
    time.sleep(11)  # past the default 10 s header read timeout
    closed = 0
    for s in flood:
        s.setblocking(False)
        try:
            closed += s.recv(16) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    time.sleep(1)
    after_rss = rss_kib(gateway.pid, "VmRSS")
    answered = sorted(x for x in samples if x is not None)
    print(f"sockets opened: {len(flood)} of {SOCKETS} in {opened_in:.1f} s ({refused} failed to connect)")
    print(f"held open by the gateway during the flood: {held} (shed: {shed})")
    if answered:
        print(
            f"/healthz time to first byte during the flood: {len(answered)}/20 answered, "
            f"median {answered[len(answered) // 2]:.1f} ms, max {answered[-1]:.1f} ms"
        )
    else:
        print("/healthz during the flood: no answer")
    print(f"RSS: {idle_rss / 1024:.1f} MiB idle, {flood_rss / 1024:.1f} MiB during the flood, "
          f"peak {rss_kib(gateway.pid, 'VmHWM') / 1024:.1f} MiB")
    print(f"flood sockets closed by the gateway 11 s later: {closed} of {len(flood)}")
    print(f"RSS 1 s after the flood: {after_rss / 1024:.1f} MiB")


def keep_alive_clients(count=2000, rounds=3):
    """`count` keep-alive connections, each asking /healthz `rounds` times in turn."""
    clients = [socket.create_connection(("127.0.0.1", PORT), timeout=10) for _ in range(count)]
    answered = 0
    for _ in range(rounds):
        for s in clients:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            data = b""
            while not data.endswith(b'{"status":"ok"}'):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            answered += data.startswith(b"HTTP/1.1 200")
    for s in clients:
        s.close()
    return answered, count * rounds


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    gateway = subprocess.Popen(
        [BINARY, "serve", "--demo", "--listen", f"127.0.0.1:{PORT}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if ttfb_ms() is not None:
                    break
            except OSError:
                time.sleep(0.1)
        idle_rss = rss_kib(gateway.pid, "VmRSS")
        for round_number in range(1, ROUNDS + 1):
            print(f"round {round_number}")
            flood_round(gateway, idle_rss)
        answered, asked = keep_alive_clients()
        print(f"2,000 keep-alive clients, 3 requests each in turn: {answered} of {asked} answered 200")
    finally:
        gateway.terminate()
        gateway.wait()


if __name__ == "__main__":
    main()
