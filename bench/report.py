"""The table `make bench` prints (and docs/performance.md quotes), from a results dict."""

TARGETS = {
    "throughput": 20_000,
    "latency_p99_ms": 250,
    "http_alerts_s": 5_000,
    "http_p99_ms": 50,
    "rss_mb": 300,
}


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def rows(r: dict) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    c = r.get("ceiling")
    if c:
        out.append(
            (
                f"ceiling produce / consume ({c['message_bytes']} B msgs/s)",
                f"{c['produce_msgs_s']:,.0f} / {c['consume_msgs_s']:,.0f}",
            )
        )
    t = r.get("throughput")
    if t:
        rate = t["alerts_s"]
        scaled = "".join(f", {n} {name} instances" for name, n in (r.get("instances") or {}).items() if n > 1)
        out.append(
            (
                f"storm end to end ({t['alerts']:,} alerts{scaled}, alerts/s)",
                f"{rate:,.0f}  target >= {TARGETS['throughput']:,}  {_mark(rate >= TARGETS['throughput'])}",
            )
        )
        if c:
            out.append(("  ratio to the ceiling", f"{rate / min(c['produce_msgs_s'], c['consume_msgs_s']):.2f}"))
        median = min(t["runs"], key=lambda run: abs(run["alerts_s"] - rate))
        if "cpu_seconds_with_held_repeats" in median:
            used = sum(v for k, v in median["cpu_seconds_with_held_repeats"].items() if k != "bench")
            out.append(
                (
                    "  CPU per alert until counts are final (µs)",
                    f"{used / t['alerts'] * 1e6:.0f}  (held repeats told {median['counts_final_seconds']:.0f} s after"
                    " the start)",
                )
            )
    lat = r.get("latency")
    if lat:
        p99 = lat["p99_ms"]
        out.append(
            (
                f"ingest -> incident event at {lat['rate']:,}/s p50/p95/p99 (ms)",
                f"{lat['p50_ms']:.0f} / {lat['p95_ms']:.0f} / {p99:.0f}  target p99 <= {TARGETS['latency_p99_ms']}"
                f"  {_mark(p99 <= TARGETS['latency_p99_ms'])}",
            )
        )
        hops = lat.get("hops_p50_p99_ms") or {}
        out += [(f"  {hop} hop p50/p99 (ms)", f"{p50:.0f} / {p99:.0f}") for hop, (p50, p99) in hops.items()]
    http = r.get("http")
    if http:
        ok = [row for row in http if sustained(row)]
        best = max((row["alerts_s"] for row in ok), default=0.0)
        out.append(
            (
                "HTTP ingest max sustained (alerts/s)",
                f"{best:,.0f}  target >= {TARGETS['http_alerts_s']:,}  {_mark(best >= TARGETS['http_alerts_s'])}",
            )
        )
        at_200 = next((row for row in http if row["target_rps"] == 200), None)
        if at_200:
            p99 = at_200["p99_ms"]
            out.append(
                (
                    "HTTP request p50/p99 at 200 req/s (ms)",
                    f"{at_200['p50_ms']:.0f} / {p99:.0f}  target p99 <= {TARGETS['http_p99_ms']}"
                    f"  {_mark(p99 <= TARGETS['http_p99_ms'] and sustained(at_200))}",
                )
            )
    f = r.get("footprint")
    if f:
        peak = f["peak_rss_mb"]
        worst = max(peak.values())
        out.append(
            (
                "peak RSS ingest / correlator / ticketing (MB)",
                " / ".join(f"{peak[s]:.0f}" for s in ("ingest", "correlator", "ticketing"))
                + f"  target <= {TARGETS['rss_mb']}  {_mark(worst <= TARGETS['rss_mb'])}",
            )
        )
        out.append(("  at", f"{f['open_alerts']:,} open alerts, {f['open_incidents']:,} open incidents"))
    out.append(("load average (1 min) at start / end", f"{r['load_at_start']:.1f} / {r['load_at_end']:.1f}"))
    return out


def sustained(row: dict) -> bool:
    return row["failures"] == 0 and row["achieved_rps"] >= 0.95 * row["target_rps"] and row["p99_ms"] < 1000


def table(r: dict) -> str:
    lines = rows(r)
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)
