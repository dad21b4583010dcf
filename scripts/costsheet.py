#!/usr/bin/env python3
"""The cost sheet of docs/benchmarks.md: dollars per million messages for each
path, from what `make bench` measured (BenchmarkCostPerMessage, and when they
exist BenchmarkReceiptRequests and BenchmarkEventsPerMessage) at list prices.

benchtable.py calls section(rows); run alone it prints the sheet of a saved
`go test -bench` output:  costsheet.py BENCH_OUTPUT_FILE
"""
import math
import os
import re
import sys

# List prices, us-east-1, on-demand, without free tiers, as published on the
# AWS pricing pages (checked 2026-11-30; DynamoDB's on-demand prices are those
# of the November 2024 reduction).
PRICES = [
    ("apigw", "API Gateway HTTP API", 1.00, "per million requests (first 300 million a month)"),
    ("lambda_req", "Lambda requests", 0.20, "per million invocations"),
    ("lambda_gbs", "Lambda duration, arm64", 0.0000133334, "per GB-second (first 7.5 billion GB-s a month)"),
    ("ddb_wru", "DynamoDB on-demand writes", 0.625, "per million write request units"),
    ("ddb_rru", "DynamoDB on-demand reads", 0.125, "per million read request units"),
    ("sqs", "SQS standard", 0.40, "per million requests (64 KB chunks)"),
    ("events", "EventBridge custom events", 1.00, "per million events (64 KB chunks)"),
    ("scheduler", "EventBridge Scheduler", 1.00, "per million invocations"),
    ("logs", "CloudWatch Logs ingestion", 0.50, "per GB (standard class)"),
    ("xray", "X-Ray", 5.00, "per million traces recorded"),
]
PRICE = {k: p for k, _, p, _ in PRICES}

# Assumptions, each written next to the figures.
PROVIDER_MS = 300          # the provider's round trip the durations are measured at
BATCH = 10                 # the drain's batch (template BatchSize), full under load
XRAY_SAMPLED = 0.05        # Lambda samples the first request each second and 5 % of the rest
PLATFORM_LOG_B = 600       # Lambda's JSON platform.start and platform.report lines per invocation
ACCESS_LOG_B = 400         # the HTTP API's access log line per request
EVENT_OVERHEAD_B = 26      # CloudWatch Logs counts 26 bytes per log event
RECEIPT_MS = 20            # the receipts function's duration per receipt (not measured here)
RECEIPT_LOG_B = 800        # what it logs per receipt, platform lines included (not measured here)
PUBLISHER_BATCH = 100      # stream records per invocation of the status-event publisher
PUBLISHER_MS = 60          # its duration per batch (not measured here)
VCPU_MB = 1769             # Lambda gives a full vCPU at 1769 MB, a share below it
TWILIO_US_SEGMENT = 0.0083 # Twilio's US price per outbound segment, for scale

# What the contract allows where this branch has nothing to measure yet.
CONTRACT_STATUS_WRITE = {"ddb_req": 1.0, "ddb_wcu": 2.0}   # the record, and its index entry once it has a provider id
CONTRACT_RECEIPT = {"ddb_req": 2.0, "ddb_wcu": 1.0, "ddb_rcu": 1.0}  # at most two requests: a read and a write
CONTRACT_EVENTS = 2.0      # status changes of a direct send and two receipts: sent, delivered


def memory_size(template="template.yaml"):
    """The functions' MemorySize in template.yaml (Globals)."""
    try:
        for line in open(template):
            m = re.match(r"\s+MemorySize:\s*(\d+)", line)
            if m:
                return int(m.group(1))
    except OSError:
        pass
    return 256


def bench(rows, name):
    for _, n, _, m in rows:
        if n == name:
            return m
    return None


def money(v):
    return f"${v:,.2f}"


class Path:
    """The per-message quantities of one path, each priced by cost()."""

    def __init__(self, label, note=""):
        self.label, self.note = label, note
        self.q = {"apigw": 0.0, "lambda_inv": 0.0, "lambda_gbs": 0.0, "ddb_wcu": 0.0, "ddb_rcu": 0.0,
                  "ddb_req": 0.0, "sqs": 0.0, "events": 0.0, "xray": 0.0, "log_b": 0.0}
        self.sources = []

    def add(self, other, times=1.0):
        for k, v in other.q.items():
            self.q[k] += v * times
        self.sources += [s for s in other.sources if s not in self.sources]
        return self

    def cost(self):
        """Dollars per million messages by service."""
        q = self.q
        c = {
            "API Gateway": q["apigw"] * PRICE["apigw"],
            "Lambda": q["lambda_inv"] * PRICE["lambda_req"] + q["lambda_gbs"] * PRICE["lambda_gbs"] * 1e6,
            "DynamoDB": q["ddb_wcu"] * PRICE["ddb_wru"] + q["ddb_rcu"] * PRICE["ddb_rru"],
            "SQS": q["sqs"] * PRICE["sqs"],
            "EventBridge": q["events"] * PRICE["events"],
            "X-Ray": q["xray"] * PRICE["xray"],
        }
        c["before logs"] = sum(c.values())
        c["Logs"] = q["log_b"] / 1e9 * PRICE["logs"] * 1e6
        c["total"] = c["before logs"] + c["Logs"]
        return c


def invocation(p, mem, ms, per_msg, cpu_ms):
    """per_msg function invocations per message, which bill ms per message;
    cpu_ms of each message's CPU work runs slower on the memory size's share
    of a vCPU."""
    slow = max(VCPU_MB / mem - 1, 0)
    p.q["lambda_inv"] += per_msg
    p.q["lambda_gbs"] += mem / 1024 * (ms + cpu_ms * slow) / 1000
    p.q["xray"] += per_msg * XRAY_SAMPLED
    p.q["log_b"] += per_msg * PLATFORM_LOG_B


def measured(m, label, mem, cpu_ms, per_msg=1.0, api=True):
    """A function's part of a path from a BenchmarkCostPerMessage row."""
    p = Path(label)
    if api:
        p.q["apigw"] += 1
        p.q["log_b"] += ACCESS_LOG_B + EVENT_OVERHEAD_B
    invocation(p, mem, m["lambda-ms/msg"], per_msg, cpu_ms)
    p.q["ddb_req"] += m["ddb-req/msg"]
    p.q["ddb_wcu"] += m["ddb-wcu/msg"]
    p.q["ddb_rcu"] += m["ddb-rcu/msg"]
    p.q["sqs"] += m["sqs-req/msg"]
    p.q["log_b"] += m["log-B/msg"] + m["log-lines/msg"] * EVENT_OVERHEAD_B
    p.sources.append("measured")
    return p


def section(rows, template="template.yaml"):
    cost = {n.split("/", 1)[1]: m for _, n, _, m in rows if n.startswith("BenchmarkCostPerMessage/")}
    if "direct-tracking-off" not in cost:
        return []
    mem = memory_size(template)
    local = bench(rows, "BenchmarkLocalServer/sent/quiet") or {}
    cpu_ms = local.get("cpu-µs/req", 300) / 1000
    notes = []

    direct = measured(cost["direct-tracking-off"], "direct, no key, tracking off", mem, cpu_ms)
    with_key = measured(cost["direct-with-key-tracking-off"], "direct with an Idempotency-Key", mem, cpu_ms)
    guard = measured(cost["direct-guard-tracking-off"], "direct with the guard's defaults", mem, cpu_ms)
    guard.note = "the rules cost no request; the recipient limit's count one request and one write unit; the daily budget rides in the limiter's write"

    queued = measured(cost["queued-tracking-off"], "queued: 202, then the drain", mem, cpu_ms)
    drain = measured(cost["drain-tracking-off"], "drain", mem, cpu_ms, per_msg=1 / BATCH, api=False)
    queued.add(drain)
    queued.q["sqs"] += 2 / BATCH  # the event source mapping's ReceiveMessage and DeleteMessageBatch
    queued.note = f"event source mapping: a receive and a delete per batch of {BATCH}"

    tracking = measured(cost["direct"], "direct with tracking", mem, cpu_ms)
    if tracking.q["ddb_req"] - direct.q["ddb_req"] < 0.5:
        # Nothing to measure yet: the contract's status write instead.
        tracking.q["ddb_req"] += CONTRACT_STATUS_WRITE["ddb_req"]
        tracking.q["ddb_wcu"] += CONTRACT_STATUS_WRITE["ddb_wcu"]
        tracking.sources.append("contract")
        tracking.note = "status record not written on this branch: the contract's write (1 request, 2 units with its index entry)"

    receipt = Path("a delivery receipt")
    receipt.q["apigw"] += 1
    receipt.q["log_b"] += ACCESS_LOG_B + EVENT_OVERHEAD_B
    invocation(receipt, mem, RECEIPT_MS, 1, cpu_ms)
    receipt.q["log_b"] += RECEIPT_LOG_B - PLATFORM_LOG_B
    rb = bench(rows, "BenchmarkReceiptRequests")
    if rb and "ddb-req/receipt" in rb:
        r = rb["ddb-req/receipt"]
        receipt.q["ddb_req"] += r
        receipt.q["ddb_wcu"] += min(r, CONTRACT_RECEIPT["ddb_wcu"])
        receipt.q["ddb_rcu"] += max(r - CONTRACT_RECEIPT["ddb_wcu"], 0)
        receipt.sources.append("measured")
        receipt.note = f"{r:.2f} DynamoDB requests measured; {RECEIPT_MS} ms assumed"
    else:
        for k, v in CONTRACT_RECEIPT.items():
            receipt.q[k] += v
        receipt.sources.append("contract")
        receipt.note = f"receipts not on this branch: the contract's bound (a read and a write), {RECEIPT_MS} ms assumed"

    events = Path("status events")
    eb = bench(rows, "BenchmarkEventsPerMessage/direct+2receipts")
    n_events = eb["events/msg"] if eb and "events/msg" in eb else CONTRACT_EVENTS
    events.q["events"] += n_events
    invocation(events, mem, PUBLISHER_MS * n_events / PUBLISHER_BATCH, n_events / PUBLISHER_BATCH, 0)
    events.sources.append("measured" if eb else "contract")
    events.note = (f"{n_events:.2f} events per message" + ("" if eb else " (contract: sent, delivered)")
                   + f"; the publisher: a {PUBLISHER_MS} ms invocation per {PUBLISHER_BATCH} stream records")

    full = Path("direct with tracking, events and two receipts").add(tracking).add(receipt, 2).add(events)

    paths = [direct, with_key, guard, queued, tracking, receipt, full]
    out = ["\n## Cost per million messages\n"]
    out.append(f"Computed by scripts/costsheet.py from the figures above (BenchmarkCostPerMessage) at list prices. "
               f"Every duration is measured with the provider answering in {PROVIDER_MS} ms; the functions run on "
               f"arm64 with the template's {mem} MB.\n")
    out.append("| path | DynamoDB req | write units | read units | SQS req | Lambda ms | logs (B) | source |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for p in paths:
        q = p.q
        ms = q["lambda_gbs"] / (mem / 1024) * 1000
        out.append(f"| {p.label} | {q['ddb_req']:.2f} | {q['ddb_wcu']:.2f} | {q['ddb_rcu']:.2f} | {q['sqs']:.2f} | "
                   f"{ms:.0f} | {q['log_b']:,.0f} | {', '.join(p.sources)} |")
    out.append("")
    cols = ["API Gateway", "Lambda", "DynamoDB", "SQS", "EventBridge", "X-Ray", "before logs", "Logs", "total"]
    out.append("| $ per million | " + " | ".join(cols) + " |")
    out.append("|---|" + "---:|" * len(cols))
    for p in paths:
        c = p.cost()
        out.append(f"| {p.label} | " + " | ".join(money(c[k]) for k in cols) + " |")
    out.append("")
    for p in paths:
        if p.note:
            out.append(f"- {p.label}: {p.note}.")
    goals = [(direct, 3.50), (full, 13.00)]
    out.append("")
    for p, goal in goals:
        c = p.cost()["before logs"]
        verdict = "within" if c <= goal else "OVER"
        out.append(f"**{p.label}: {money(c)} per million before logs** ({verdict} the goal of {money(goal)}; "
                   f"{money(p.cost()['total'])} with logs).  ")
    out.append("")
    out.append(f"For scale: a provider's price per segment dwarfs all of it. Twilio's US rate is about "
               f"${TWILIO_US_SEGMENT} a segment, {money(TWILIO_US_SEGMENT * 1e6)} per million one-segment messages: "
               f"the AWS side of a direct send is {direct.cost()['total'] / (TWILIO_US_SEGMENT * 1e6) * 100:.2f} % of that.\n")
    out.append("Prices (us-east-1 list prices, on demand, free tiers left out; checked 2026-11-30):\n")
    for _, name, p, unit in PRICES:
        out.append(f"- {name}: ${p:.10f}".rstrip("0").rstrip(".") + f" {unit}")
    out.append("\nAssumptions:\n")
    out.append(f"- Requests, write units and log bytes are measured per message on moto through mototest.Meter, which "
               f"prices each DynamoDB request from the sizes of the items (a write: one unit per started KB of the larger "
               f"of the item before and after, at least one, also when its condition fails; one more per index entry "
               f"written or removed; a read: one unit per started 4 KB, half when eventually consistent).")
    out.append(f"- Lambda bills the measured duration; the CPU work of a message ({cpu_ms:.2f} ms here, "
               f"BenchmarkLocalServer's cpu-µs/req) runs {VCPU_MB / mem:.1f} times slower on {mem} MB's share of a vCPU, "
               f"which is added. Cold starts are left out (about 30 ms of init per new instance, BenchmarkColdStart).")
    out.append(f"- The drain takes full batches of {BATCH} with its four workers (its duration per message is a tenth "
               f"of a batch's); the event source mapping's polls of an idle queue cost a fixed amount, not per message.")
    out.append(f"- X-Ray records {XRAY_SAMPLED:.0%} of invocations (the first each second and 5 % of the rest: at "
               f"10 messages a second it is 14.5 %, $0.48 more per million).")
    out.append(f"- Logs: the functions' JSON lines and EMF metrics at the info level (measured), Lambda's platform lines "
               f"({PLATFORM_LOG_B} B an invocation), the API's access log ({ACCESS_LOG_B} B a request), and "
               f"{EVENT_OVERHEAD_B} B per log event. Storage, metrics ($0.30 per custom metric a month, a few dozen "
               f"series), alarms and the dashboard are monthly, not per message.")
    out.append(f"- A receipt: {RECEIPT_MS} ms of the receipts function and {RECEIPT_LOG_B} B of logs; status events: "
               f"EventBridge per event, the publisher per {PUBLISHER_BATCH} stream records (DynamoDB Streams reads by "
               f"Lambda are free). A scheduled send adds one EventBridge Scheduler invocation "
               f"({money(PRICE['scheduler'])} per million) when it is more than 15 minutes ahead.")
    return out


def main():
    import benchtable
    rows = benchtable.parse(sys.argv[1])
    print("\n".join(section(rows)))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
