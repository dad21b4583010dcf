#!/usr/bin/env python3
"""Turns `go test -bench` output and `make build` sizes into docs/benchmarks.md.

Usage: benchtable.py BENCH_OUTPUT_FILE "MAKE_BUILD_OUTPUT"
"""
import datetime
import os
import platform
import re
import subprocess
import sys

import costsheet

LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def parse(path):
    rows, pkg = [], ""
    for line in open(path):
        if line.startswith("pkg: "):
            pkg = line.split()[1].replace("github.com/fluxkit/sms/", "")
        m = LINE.match(line.strip())
        if not m:
            continue
        name, iters, rest = m.groups()
        fields = rest.split()
        metrics = {fields[i + 1]: float(fields[i]) for i in range(0, len(fields) - 1, 2)}
        rows.append((pkg, name, int(iters), metrics))
    return rows


def fmt(v):
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    go = subprocess.run(["go", "version"], capture_output=True, text=True).stdout.strip()
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}; {go}"


def status_section(out, by_name):
    """Status records (docs/status.md): what tracking costs a direct send."""
    req = "BenchmarkAWSRequestsPerMessage/"
    lat = "BenchmarkWarmSendLatency/"
    on, off = by_name.get(req + "direct"), by_name.get(req + "direct-tracking-off")
    if not (on and off):
        return
    out.append("\n## Status records: what tracking costs\n")
    out.append("DynamoDB per message (`AWSRequestsPerMessage`; write units: one per write request, every item")
    out.append("being under 1 KB, plus one per entry of the `providerMessageId` index). Goals: at most 2.05")
    out.append("requests per direct send with tracking, 1.05 without.\n")
    out.append("| path | tracking | DynamoDB requests | write units | SQS requests |")
    out.append("|---|---|---:|---:|---:|")
    for path in ("direct", "direct-with-key", "queued"):
        for suffix, label in (("", "on"), ("-tracking-off", "off")):
            m = by_name.get(req + path + suffix)
            if m:
                out.append(f"| {path} | {label} | {m.get('ddb-req/msg', 0):.3g} | {m.get('ddb-wcu/msg', 0):.3g} | {m.get('sqs-req/msg', 0):.3g} |")
    lon, loff = by_name.get(lat + "tracking-true"), by_name.get(lat + "tracking-false")
    if lon and loff:
        out.append("\nWarm direct send through the emulator (`WarmSendLatency`: the real bootstrap, moto, the Twilio")
        out.append("fake answering after 200 ms). Goal: p50 with tracking at most 20 % above it without.\n")
        out.append("| tracking | p50 ms | p95 ms |")
        out.append("|---|---:|---:|")
        out.append(f"| on | {lon.get('p50-ms', 0):.1f} | {lon.get('p95-ms', 0):.1f} |")
        out.append(f"| off | {loff.get('p50-ms', 0):.1f} | {loff.get('p95-ms', 0):.1f} |")
        if loff.get("p50-ms"):
            out.append(f"\np50 with tracking is {100 * (lon['p50-ms'] / loff['p50-ms'] - 1):+.1f} % of p50 without.")


def main():
    rows = parse(sys.argv[1])
    sizes = sys.argv[2] if len(sys.argv) > 2 else ""
    out = []
    out.append("# Benchmarks\n")
    out.append("Written by `make bench` (scripts/bench.sh); do not edit by hand. Figures from one run;")
    out.append("the machine is shared, so expect some noise. Moto answers each AWS request in a few")
    out.append("milliseconds, which caps every figure measured against it.\n")
    out.append(f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    out.append(f"- Machine: {machine()}\n")
    out.append("| package | benchmark | ns/op | B/op | allocs/op | other |")
    out.append("|---|---|---:|---:|---:|---|")
    for pkg, name, _, m in rows:
        other = ", ".join(f"{fmt(v)} {k}" for k, v in m.items() if k not in ("ns/op", "B/op", "allocs/op"))
        out.append(
            f"| {pkg} | {name[len('Benchmark'):]} | {fmt(m.get('ns/op', 0))} | "
            f"{fmt(m.get('B/op', 0))} | {fmt(m.get('allocs/op', 0))} | {other} |"
        )
    naive = {n: m for _, n, _, m in rows if n.startswith("BenchmarkBoundaryBurst/")}
    fw, lim = naive.get("BenchmarkBoundaryBurst/fixed-window"), naive.get("BenchmarkBoundaryBurst/limiter")
    if fw and lim:
        out.append("\n## The naive alternative side by side\n")
        out.append("A fixed one-second window counter in DynamoDB (`ADD count :1` while `count < rate`)")
        out.append("against this project's limiter, same burst at rate 10: 15 requests in the 300 ms before")
        out.append("a second boundary and 15 in the 300 ms after it.\n")
        out.append("| | fixed window | limiter | ratio |")
        out.append("|---|---:|---:|---:|")
        for k, label in (("peak-1s", "largest count in a 1-s window"), ("req/grant", "DynamoDB requests per call let through")):
            a, b = fw.get(k, 0), lim.get(k, 0)
            ratio = f"{a / b:.2f}x" if b else "n/a"
            out.append(f"| {label} | {fmt(a)} | {fmt(b)} | {ratio} |")
    status_section(out, {n: m for _, n, _, m in rows})
    out.extend(costsheet.section(rows))
    if sizes.strip():
        out.append("\n## Binary sizes (arm64, `make build`)\n")
        out.append("```")
        out.append(sizes.strip())
        out.append("```")
    print("\n".join(out))


if __name__ == "__main__":
    main()
