#!/usr/bin/env python3
"""Load test of `vkformer serve`: throughput and latency under 1, 8 and 32 concurrent clients.

Starts `vkformer serve` on 127.0.0.1 (an ephemeral port), sends one POST /translate per input line from N
client threads (http.client, keep-alive connections), and reports per level: requests, sentences/s,
p50 / p99 latency. The peer is `vkformer bench translate --batch-size 32` on the same lines (the
translate path, timed without model load, as the server's numbers are). Clients are bounded (at most 64)
and so is time (--seconds per level). Standard library only.

  tools/serve_load_test.py [--binary build/vkformer] [--model models/en-de] [--lines 64] [--beam 1]
                           [--clients 1 8 32] [--seconds 120] [--markdown]
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def start_server(args):
    command = [str(args.binary), "serve", "--model", str(args.model), "--port", "0", "--beam", str(args.beam),
               "--batch-size", "32"]
    if args.languages:
        command += ["--languages", args.languages]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not match:
        server.kill()
        sys.exit(f"serve did not start: {line!r}")
    return server, int(match.group(1))


def run_level(port, lines, clients, seconds, source, target):
    """Each client takes the next line until all are sent or time is up; returns (latencies, wall)."""
    latencies, errors = [], []
    next_line = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=seconds + 60)
        while time.monotonic() < deadline:
            with lock:
                if next_line[0] >= len(lines):
                    break
                line = lines[next_line[0]]
                next_line[0] += 1
            body = json.dumps({"q": line, "source": source, "target": target})
            start = time.monotonic()
            connection.request("POST", "/translate", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            elapsed = time.monotonic() - start
            with lock:
                if response.status == 200:
                    latencies.append(elapsed)
                else:
                    errors.append(f"{response.status} {payload[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.monotonic() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", type=Path, default=ROOT / "build" / "vkformer")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "en-de")
    parser.add_argument("--languages", default="", help="SOURCE:TARGET when the model directory's name does not say")
    parser.add_argument("--input", type=Path, default=ROOT / "tools" / "bench" / "input.en")
    parser.add_argument("--lines", type=int, default=64)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=120, help="most seconds per level")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    if max(args.clients) > 64 or min(args.clients) < 1:
        sys.exit("--clients: 1 to 64")
    lines = [l.rstrip("\n") for l in args.input.open(encoding="utf-8")][: args.lines]
    if args.languages:
        source, target = args.languages.split(":")
    else:
        match = re.search(r"([a-z]{2,3})-([a-z]{2,3})$", args.model.resolve().name)
        if not match:
            sys.exit("--languages SOURCE:TARGET: the model directory's name does not say")
        source, target = match.groups()

    server, port = start_server(args)
    rows = []
    try:
        # Warm-up: every source-length bucket of these lines records its plans once.
        run_level(port, lines, 8, args.seconds, source, target)
        for clients in args.clients:
            latencies, errors, wall = run_level(port, lines, clients, args.seconds, source, target)
            if errors:
                print(f"{clients} clients: {len(errors)} errors, first: {errors[0]}", file=sys.stderr)
            rows.append((f"serve, {clients} client{'s' if clients > 1 else ''}", len(latencies), len(latencies) / wall,
                         percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000))
    finally:
        server.terminate()
        server.wait(timeout=60)

    peer = subprocess.run([str(args.binary), "bench", "translate", "--json", "--model", str(args.model), "--input",
                           str(args.input), "--lines", str(len(lines)), "--beam", str(args.beam), "--batch-size", "32"],
                          check=True, capture_output=True, text=True)
    report = json.loads(peer.stdout)
    result = report["results"][0]
    rows.append(("translate --batch-size 32 (bench translate)", report["sentences"], result["sentences_per_s"], None, None))

    if args.markdown:
        print("| configuration | sentences | sentences/s | p50 latency ms | p99 latency ms |")
        print("|---|---:|---:|---:|---:|")
        for name, count, rate, p50, p99 in rows:
            cell = lambda v: "" if v is None else f"{v:,.0f}"
            print(f"| {name} | {count} | {rate:.2f} | {cell(p50)} | {cell(p99)} |")
    else:
        for name, count, rate, p50, p99 in rows:
            latency = "" if p50 is None else f"  p50 {p50:8.0f} ms  p99 {p99:8.0f} ms"
            print(f"{name:45} {count:5} sentences {rate:8.2f} /s{latency}")
    print(f"device: {report['device']} ({report['driver']}); model {args.model}; beam {args.beam}; "
          f"{len(lines)} lines of {args.input.name}", file=sys.stderr)


if __name__ == "__main__":
    main()
