#!/usr/bin/env python3
"""Draws the storm simulator's results as hand-written SVG (Python 3 standard library only).

usage: storm-plots.py OCC_CSV OUTAGE_CSV OUT_DIR [SERIES_CSV [OUTAGE_LOG [CANDIDATES_CSV
                     [SCENARIOS_CSV]]]]

Writes OUT_DIR/storm-occ-time.svg and storm-occ-calls.svg (x = clients, one line per
algorithm, as in the AWS blog post; algorithms beyond the blog's, named with a "+", are drawn
dashed), storm-occ-vs-fulljitter.svg (each such algorithm's change in time and calls against
FullJitter, per client count), storm-outage.svg (grouped bars per strategy and fleet) and,
given the per-100 ms series, storm-outage-series.svg (server arrivals over time) and, given the
`storm candidates` CSV, storm-candidates.svg (each shared-isolate candidate's change in time
and calls against FullJitter, one panel per network speed) and, given the `storm scenarios`
CSV, storm-scenarios.svg (success, success after the trigger and amplification during it, per
scenario, for NoRetry, FullJitter, the old defaults and today's).
"""

import csv
import math
import sys
from collections import OrderedDict
from html import escape

PALETTE = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
           "#ff9da7", "#bab0ac"]
FONT = "font-family='Helvetica, Arial, sans-serif'"


def nice_step(span, count):
    """A round tick step (1, 2 or 5 times a power of ten) giving about `count` ticks."""
    if span <= 0:
        return 1.0
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def fmt(v):
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10 or float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.2g}" if abs(v) < 1 else f"{v:.1f}"


class Svg:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", color="#222", rotate=None):
        transform = f" transform='rotate({rotate} {x:.1f} {y:.1f})'" if rotate is not None else ""
        self.add(f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' "
                 f"font-weight='{weight}' fill='{color}' {FONT}{transform}>{escape(str(s))}</text>")

    def line(self, x1, y1, x2, y2, color="#000", width=1.0, dash=None):
        d = f" stroke-dasharray='{dash}'" if dash else ""
        self.add(f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' stroke='{color}' "
                 f"stroke-width='{width}'{d}/>")

    def rect(self, x, y, w, h, fill, stroke="none", opacity=1.0, extra=""):
        self.add(f"<rect x='{x:.1f}' y='{y:.1f}' width='{max(w, 0):.1f}' height='{max(h, 0):.1f}' "
                 f"fill='{fill}' stroke='{stroke}' fill-opacity='{opacity}' {extra}/>")

    def polyline(self, points, color, width=2.0, dash=None):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        d = f" stroke-dasharray='{dash}'" if dash else ""
        self.add(f"<polyline points='{pts}' fill='none' stroke='{color}' stroke-width='{width}' "
                 f"stroke-linejoin='round'{d}/>")

    def circle(self, x, y, r, color):
        self.add(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{r}' fill='{color}'/>")

    def write(self, path):
        head = (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}'>\n"
                "<defs><pattern id='hatch' width='6' height='6' patternUnits='userSpaceOnUse' "
                "patternTransform='rotate(45)'><rect width='6' height='6' fill='#fff'/>"
                "<line x1='0' y1='0' x2='0' y2='6' stroke='#c00' stroke-width='3'/></pattern></defs>\n"
                f"<rect width='100%' height='100%' fill='white'/>\n")
        with open(path, "w", encoding="utf-8") as f:
            f.write(head + "\n".join(self.parts) + "\n</svg>\n")


class Axes:
    """A plotting area with linear x and a linear or log10 y axis."""

    def __init__(self, svg, left, top, width, height, xlim, ylim, ylog=False):
        self.svg, self.left, self.top, self.width, self.height = svg, left, top, width, height
        self.xlim, self.ylim, self.ylog = xlim, ylim, ylog

    def x(self, v):
        lo, hi = self.xlim
        return self.left + (v - lo) / (hi - lo) * self.width

    def y(self, v):
        lo, hi = self.ylim
        if self.ylog:
            v, lo, hi = math.log10(max(v, 1e-9)), math.log10(lo), math.log10(hi)
        return self.top + self.height - (v - lo) / (hi - lo) * self.height

    def frame(self, xticks, xlabel, ylabel, title, xtick_labels=None):
        s = self.svg
        yticks = self.yticks()
        for v in yticks:
            s.line(self.left, self.y(v), self.left + self.width, self.y(v), "#e4e4e4")
            s.text(self.left - 6, self.y(v) + 4, fmt(v), 11, "end")
        for i, v in enumerate(xticks):
            s.line(self.x(v), self.top + self.height, self.x(v), self.top + self.height + 4, "#444")
            label = xtick_labels[i] if xtick_labels else fmt(v)
            s.text(self.x(v), self.top + self.height + 17, label, 11, "middle")
        s.line(self.left, self.top + self.height, self.left + self.width, self.top + self.height, "#444")
        s.line(self.left, self.top, self.left, self.top + self.height, "#444")
        s.text(self.left + self.width / 2, self.top + self.height + 36, xlabel, 12, "middle")
        s.text(self.left - 52, self.top + self.height / 2, ylabel, 12, "middle",
               rotate=-90)
        s.text(self.left + self.width / 2, self.top - 12, title, 14, "middle", "bold")

    def yticks(self):
        lo, hi = self.ylim
        if self.ylog:
            ticks = []
            for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
                for m in (1, 2, 5):
                    v = m * 10 ** e
                    if lo <= v <= hi:
                        ticks.append(v)
            return ticks
        step = nice_step(hi - lo, 6)
        first = math.ceil(lo / step) * step
        return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def occ_chart(rows, column, path, title, ylabel, ylog):
    by_algo = OrderedDict()
    for r in rows:
        by_algo.setdefault(r["algorithm"], []).append((int(r["clients"]), float(r[column])))
    xs = sorted({x for pts in by_algo.values() for x, _ in pts})
    ys = [y for pts in by_algo.values() for _, y in pts]
    svg = Svg(760, 470)
    if ylog:
        lo = 10 ** math.floor(math.log10(max(min(ys), 1e-3)))
        hi = 10 ** math.ceil(math.log10(max(ys)))
        ylim = (lo, hi)
    else:
        ylim = (0, max(ys) * 1.08)
    xmax = max(xs)
    ax = Axes(svg, 80, 50, 500, 340, (0, xmax * 1.02), ylim, ylog)
    xticks = list(range(0, xmax + 1, nice_step(xmax, 10) if xmax >= 10 else 1))
    ax.frame([int(v) for v in xticks], "clients", ylabel, title)
    beyond = False
    for i, (algo, pts) in enumerate(by_algo.items()):
        color = PALETTE[i % len(PALETTE)]
        pts = sorted(pts)
        # Algorithms beyond the blog's five (named "A+B") are dashed and a little thicker.
        dash = "7 4" if "+" in algo else None
        beyond = beyond or dash is not None
        svg.polyline([(ax.x(x), ax.y(y)) for x, y in pts], color, 2.6 if dash else 2.0, dash)
        for x, y in pts:
            svg.circle(ax.x(x), ax.y(y), 3, color)
        ly = 70 + i * 22
        svg.line(600, ly, 625, ly, color, 3, dash)
        svg.text(632, ly + 4, algo, 12)
    if beyond:
        ly = 70 + len(by_algo) * 22 + 10
        svg.text(600, ly, "dashed: beyond the blog;", 10, color="#555")
        svg.text(600, ly + 14, "all clients share one Engine", 10, color="#555")
    svg.write(path)


def occ_versus(rows, path, baseline="FullJitter"):
    """Bars: each algorithm beyond the blog's (a "+" in its name) against `baseline`, as the
    change in completion time and in calls per client count (below zero: better)."""
    data = {(r["algorithm"], int(r["clients"])): r for r in rows}
    algos = [a for a in OrderedDict.fromkeys(r["algorithm"] for r in rows) if "+" in a]
    clients = sorted({int(r["clients"]) for r in rows})
    if not algos or not any((baseline, n) in data for n in clients):
        return False
    series = []  # (label, color, [(clients, change %)])
    for algo in algos:
        for col, what in (("time_ms", "time"), ("calls", "calls")):
            pts = []
            for n in clients:
                base, mine = data.get((baseline, n)), data.get((algo, n))
                if base and mine and float(base[col]) > 0:
                    pts.append((n, 100.0 * (float(mine[col]) / float(base[col]) - 1.0)))
            series.append((f"{algo}: {what}", PALETTE[len(series) % len(PALETTE)], dict(pts)))
    values = [v for _, _, pts in series for v in pts.values()]
    lo, hi = min(values + [0.0]), max(values + [0.0])
    pad = (hi - lo) * 0.12 or 10
    svg = Svg(820, 470)
    ax = Axes(svg, 80, 50, 520, 330, (0, len(clients)), (lo - pad, hi + pad))
    ax.frame([], "clients", f"change against {baseline} (%)",
             f"OCC contention: against {baseline} (below zero is better)")
    group = 520 / len(clients)
    bar = group * 0.8 / len(series)
    for ci, n in enumerate(clients):
        for si, (_, color, pts) in enumerate(series):
            if n not in pts:
                continue
            v = pts[n]
            x = 80 + ci * group + group * 0.1 + si * bar
            top, bottom = sorted((ax.y(v), ax.y(0)))
            svg.rect(x, top, bar - 1, bottom - top, color)
            ty = ax.y(v) + 11 if v < 0 else ax.y(v) - 3
            svg.text(x + bar / 2, ty, f"{v:+.0f}%", 9, "middle", color="#333")
        svg.text(80 + ci * group + group / 2, ax.y(lo - pad) + 17, str(n), 11, "middle")
    svg.line(80, ax.y(0), 600, ax.y(0), "#444")
    for si, (label, color, _) in enumerate(series):
        ly = 70 + si * 22
        svg.rect(615, ly - 9, 14, 12, color)
        svg.text(635, ly + 2, label, 12)
    svg.write(path)
    return True


def candidates_chart(rows, path):
    """One panel per hop time: x = change in completion time against FullJitter (%), y = change
    in calls (%), one line per candidate through its client counts (marked at N = 10 and the
    largest N). Bottom left of both zero lines: better than FullJitter on both."""
    hops = list(OrderedDict.fromkeys(r["hop_ms"] for r in rows))
    names = [n for n in OrderedDict.fromkeys(r["candidate"] for r in rows) if n != "FullJitter"]
    xlim, ylim = (-70.0, 70.0), (-85.0, 70.0)
    pw, ph = 360, 380
    svg = Svg(len(hops) * (pw + 60) + 250, ph + 150)
    svg.text((len(hops) * (pw + 60)) / 2 + 20, 22,
             "Shared-isolate candidates in the occ model, against FullJitter", 15, "middle", "bold")
    off = set()
    for h, hop in enumerate(hops):
        left, top = 70 + h * (pw + 60), 60
        ax = Axes(svg, left, top, pw, ph, xlim, ylim)
        svg.rect(ax.x(xlim[0]), ax.y(0), ax.x(0) - ax.x(xlim[0]), ax.y(ylim[0]) - ax.y(0), "#e8f4e8")
        ticks = [-60, -40, -20, 0, 20, 40, 60]
        ax.frame(ticks, "completion time vs FullJitter (%)", "calls vs FullJitter (%)",
                 f"network hop {hop} ms")
        svg.line(ax.x(0), top, ax.x(0), top + ph, "#888", 1, "4 3")
        svg.line(left, ax.y(0), left + pw, ax.y(0), "#888", 1, "4 3")
        svg.text(ax.x(xlim[0]) + 4, ax.y(0) + 14, "better on both", 10, color="#3a7a3a")
        # The core's Pacer last, so that it is drawn on top.
        for i, name in sorted(enumerate(names), key=lambda p: p[1] == "Pacer"):
            color = PALETTE[i % len(PALETTE)]
            pts = sorted((int(r["clients"]), float(r["time_vs_fulljitter_pct"]),
                          float(r["calls_vs_fulljitter_pct"]))
                         for r in rows if r["hop_ms"] == hop and r["candidate"] == name)
            inside = [(n, t, c) for n, t, c in pts if xlim[0] <= t <= xlim[1] and ylim[0] <= c <= ylim[1]]
            if len(inside) < len(pts):
                off.add(name)
            core = name == "Pacer"
            svg.polyline([(ax.x(t), ax.y(c)) for _, t, c in inside], color, 3.0 if core else 1.4,
                         None if core else "5 3")
            for n, t, c in inside:
                svg.circle(ax.x(t), ax.y(c), 4 if core else 2.5, color)
            if core and inside:
                for n, t, c in (inside[0], inside[-1]):
                    svg.text(ax.x(t) + 6, ax.y(c) + 4, f"N={n}", 9, color=color)
    lx = len(hops) * (pw + 60) + 20
    for i, name in enumerate(names):
        ly = 80 + i * 20
        color = PALETTE[i % len(PALETTE)]
        svg.line(lx, ly, lx + 22, ly, color, 3 if name == "Pacer" else 2, None if name == "Pacer" else "5 3")
        label = name + (" (off the chart)" if name in off else "")
        svg.text(lx + 28, ly + 4, label, 11, weight="bold" if name == "Pacer" else "normal")
    svg.text(lx, 80 + len(names) * 20 + 10, "each line: clients 10..100", 10, color="#555")
    svg.write(path)


def outage_chart(rows, path, subtitle):
    strategies = list(OrderedDict.fromkeys(r["strategy"] for r in rows))
    fleets = list(OrderedDict.fromkeys(r["clients"] for r in rows))
    data = {(r["strategy"], r["clients"]): r for r in rows}
    panels = [
        ("success_rate", "Success rate (all calls)", "fraction", None),
        ("amp_outage", "Load amplification during the outage", "server arrivals ÷ calls", None),
        ("amp_recovery", "Load amplification in the 10 s after recovery", "server arrivals ÷ calls",
         None),
        ("drain_ms", "Time for the backlog to drain after recovery", "ms (hatched: never drained)",
         "NA"),
    ]
    pw, ph = 560, 250
    svg = Svg(2 * pw + 60, 2 * (ph + 150) + 80)
    svg.text(svg.width / 2, 24, "Outage storm: retry strategies through edge_retry's Call + Engine",
             16, "middle", "bold")
    svg.text(svg.width / 2, 44, subtitle, 11, "middle", color="#555")
    for p, (col, title, ylabel, na) in enumerate(panels):
        left = 80 + (p % 2) * (pw + 30)
        top = 90 + (p // 2) * (ph + 150)
        values = [float(r[col]) for r in rows if r[col] != na]
        vmax = max(values + [1e-9])
        if col == "success_rate":
            vmax = 1.0
        ylim = (0, vmax * 1.1)
        ax = Axes(svg, left, top, pw - 90, ph, (0, len(strategies)), ylim)
        ax.frame([], "", ylabel, title)
        group = (pw - 90) / len(strategies)
        bar = group * 0.8 / len(fleets)
        for si, strat in enumerate(strategies):
            for fi, fleet in enumerate(fleets):
                r = data.get((strat, fleet))
                if r is None:
                    continue
                x = left + si * group + group * 0.1 + fi * bar
                color = PALETTE[fi % len(PALETTE)]
                if r[col] == na:
                    y0 = ax.y(ylim[1])
                    svg.rect(x, y0, bar - 1, ax.y(0) - y0, "url(#hatch)", "#c00")
                    svg.text(x + bar / 2, y0 - 3, "never", 9, "middle", color="#c00")
                    continue
                v = float(r[col])
                svg.rect(x, ax.y(v), bar - 1, ax.y(0) - ax.y(v), color)
                label = f"{v:.2f}" if col != "drain_ms" else fmt(v)
                svg.text(x + bar / 2, ax.y(v) - 3, label, 8, "middle", color="#333")
            cx = left + si * group + group / 2
            cy = top + ph + 10
            svg.text(cx, cy, strat, 10, "end", rotate=-35)
        if col in ("amp_outage", "amp_recovery"):
            svg.line(left, ax.y(1), left + pw - 90, ax.y(1), "#888", 1, "4 3")
    for fi, fleet in enumerate(fleets):
        rps = next(r["per_client_rps"] for r in rows if r["clients"] == fleet)
        x = 90 + fi * 260
        y = svg.height - 18
        svg.rect(x, y - 10, 14, 12, PALETTE[fi % len(PALETTE)])
        svg.text(x + 20, y, f"{int(fleet):,} clients × {rps} req/s each", 12)
    svg.write(path)


def scenarios_chart(rows, path, strategies=("NoRetry", "FullJitter", "OldDefaults", "Defaults")):
    scenarios = list(OrderedDict.fromkeys(r["scenario"] for r in rows))
    data = {(r["scenario"], r["strategy"]): r for r in rows}
    panels = [
        ("success", "Success rate (all calls)", "fraction"),
        ("success_after", "Success of calls started in the 10 s after the trigger", "fraction"),
        ("amp_trigger", "Load amplification during the trigger", "server arrivals ÷ calls"),
    ]
    pw, ph = 900, 230
    svg = Svg(pw + 60, len(panels) * (ph + 90) + 110)
    svg.text(svg.width / 2, 24, "Scenarios: the defaults against sending once (storm -- scenarios)",
             16, "middle", "bold")
    for p, (col, title, ylabel) in enumerate(panels):
        left, top = 80, 80 + p * (ph + 90)
        values = [float(r[col]) for r in rows if r["strategy"] in strategies]
        vmax = 1.0 if col != "amp_trigger" else max(values + [1.0])
        ylim = (0, vmax * 1.1)
        ax = Axes(svg, left, top, pw - 90, ph, (0, len(scenarios)), ylim)
        ax.frame([], "", ylabel, title)
        group = (pw - 90) / len(scenarios)
        bar = group * 0.8 / len(strategies)
        for ci, scenario in enumerate(scenarios):
            for si, strat in enumerate(strategies):
                r = data.get((scenario, strat))
                if r is None:
                    continue
                x = left + ci * group + group * 0.1 + si * bar
                v = float(r[col])
                svg.rect(x, ax.y(v), bar - 1, ax.y(0) - ax.y(v), PALETTE[si % len(PALETTE)])
                svg.text(x + bar / 2, ax.y(v) - 3, f"{v:.2f}", 8, "middle", color="#333")
            svg.text(left + ci * group + group / 2, top + ph + 16, scenario, 11, "middle")
        if col == "amp_trigger":
            svg.line(left, ax.y(1.1), left + pw - 90, ax.y(1.1), "#c00", 1, "4 3")
    for si, strat in enumerate(strategies):
        x, y = 90 + si * 200, svg.height - 18
        svg.rect(x, y - 10, 14, 12, PALETTE[si % len(PALETTE)])
        svg.text(x + 20, y, strat, 12)
    svg.write(path)


def hedge_chart(rows, path):
    """Hedged requests (storm -- hedge): p99 call latency (log scale) and extra requests, per
    server, one bar per strategy."""
    servers = list(OrderedDict.fromkeys(r["server"] for r in rows))
    strategies = list(OrderedDict.fromkeys(r["strategy"] for r in rows))
    data = {(r["server"], r["strategy"]): r for r in rows}
    panels = [("p99_ms", "p99 call latency", "ms (log scale)", True),
              ("extra_pct", "Extra requests the server saw", "% of calls", False)]
    pw, ph = 900, 230
    svg = Svg(pw + 60, len(panels) * (ph + 90) + 110)
    svg.text(svg.width / 2, 24, "Hedged requests at fleet scale (storm -- hedge)", 16, "middle", "bold")
    for p, (col, title, ylabel, ylog) in enumerate(panels):
        left, top = 80, 80 + p * (ph + 90)
        values = [float(r[col]) for r in rows]
        ylim = (1, max(values) * 2) if ylog else (0, max(values + [1.0]) * 1.15)
        ax = Axes(svg, left, top, pw - 90, ph, (0, len(servers)), ylim, ylog)
        ax.frame([], "", ylabel, title)
        group = (pw - 90) / len(servers)
        bar = group * 0.8 / len(strategies)
        for ci, server in enumerate(servers):
            for si, strat in enumerate(strategies):
                r = data.get((server, strat))
                if r is None:
                    continue
                x = left + ci * group + group * 0.1 + si * bar
                v = max(float(r[col]), ylim[0])
                svg.rect(x, ax.y(v), bar - 1, ax.y(ylim[0]) - ax.y(v), PALETTE[si % len(PALETTE)])
                svg.text(x + bar / 2, ax.y(v) - 3, fmt(round(float(r[col]), 1)), 8, "middle", color="#333")
            svg.text(left + ci * group + group / 2, top + ph + 16, server, 11, "middle")
    for si, strat in enumerate(strategies):
        x, y = 40 + si * 150, svg.height - 18
        svg.rect(x, y - 10, 14, 12, PALETTE[si % len(PALETTE)])
        svg.text(x + 20, y, strat, 11)
    svg.write(path)


def series_chart(path_in, path_out, fleet, strategies, capacity_per_ms, outage, stop):
    """Two stacked panels over time: requests reaching the server, and calls that succeeded."""
    rows = [r for r in read_csv(path_in) if r["clients"] == fleet and r["strategy"] in strategies]
    svg = Svg(900, 820)
    start, end = outage
    panels = [("arrivals", "server arrivals per second", f"Server load over time, {int(fleet):,} clients"),
              ("successes", "successful calls per second", "Goodput: calls that settled with a 2xx")]
    for p, (col, ylabel, title) in enumerate(panels):
        # The series comes in 100 ms rows; sum them into 500 ms bins (per second: x 2).
        sums = OrderedDict((s, OrderedDict()) for s in strategies)
        for r in rows:
            b = int(r["t_ms"]) // 500
            sums[r["strategy"]][b] = sums[r["strategy"]].get(b, 0) + int(r[col])
        by = OrderedDict((s, [(b * 0.5 + 0.25, v * 2) for b, v in bins.items()]) for s, bins in sums.items())
        tmax = max(t for pts in by.values() for t, _ in pts)
        ymax = max(y for pts in by.values() for _, y in pts)
        top = 50 + p * 400
        ax = Axes(svg, 80, top, 600, 320, (0, math.ceil(tmax)), (0, ymax * 1.1))
        svg.rect(ax.x(start), top, ax.x(end) - ax.x(start), 320, "#f4cccc", opacity=0.6)
        svg.text((ax.x(start) + ax.x(end)) / 2, top + 16, "outage (every request 503)", 11, "middle",
                 color="#900")
        step = nice_step(tmax, 10)
        ax.frame([i * step for i in range(int(math.ceil(tmax) / step) + 1)], "time (s)", ylabel, title)
        if stop:
            svg.line(ax.x(stop), top, ax.x(stop), top + 320, "#666", 1, "2 3")
            svg.text(ax.x(stop) - 4, top + 316, "new calls stop", 10, "end", color="#555")
        if col == "arrivals":
            cap = capacity_per_ms * 1000
            svg.line(ax.x(0), ax.y(cap), ax.x(tmax), ax.y(cap), "#000", 1.5, "6 4")
            svg.text(ax.x(tmax) - 4, ax.y(cap) - 5, "server capacity", 11, "end")
        # Draw the first strategy (the no-retry reference) last and dashed, so that it shows
        # even where another line lies on it.
        order = list(by.items())[1:] + list(by.items())[:1]
        for s, pts in order:
            i = strategies.index(s)
            color = PALETTE[i % len(PALETTE)]
            line = [(ax.x(t), ax.y(y)) for t, y in pts]
            if i == 0:
                pts_s = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
                svg.add(f"<polyline points='{pts_s}' fill='none' stroke='{color}' stroke-width='1.2' "
                        "stroke-dasharray='5 3'/>")
            else:
                svg.polyline(line, color, 1.8)
        for i, s in enumerate(strategies):
            ly = top + 20 + i * 22
            svg.line(700, ly, 725, ly, PALETTE[i % len(PALETTE)], 3, "5 3" if i == 0 else None)
            svg.text(732, ly + 4, s, 12)
    svg.write(path_out)


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    occ_csv, outage_csv, out = argv[1], argv[2], argv[3]
    series_csv = argv[4] if len(argv) > 4 else None
    log = argv[5] if len(argv) > 5 else None
    candidates_csv = argv[6] if len(argv) > 6 else None
    scenarios_csv = argv[7] if len(argv) > 7 else None
    hedge_csv = argv[8] if len(argv) > 8 else None
    occ = read_csv(occ_csv)
    occ_chart(occ, "time_ms", f"{out}/storm-occ-time.svg",
              "OCC contention: time until the last client completes", "milliseconds (log scale)", True)
    occ_chart(occ, "calls", f"{out}/storm-occ-calls.svg",
              "OCC contention: calls (conditional writes) to the server", "calls", False)
    occ_versus(occ, f"{out}/storm-occ-vs-fulljitter.svg")
    if candidates_csv:
        candidates_chart(read_csv(candidates_csv), f"{out}/storm-candidates.svg")
    if scenarios_csv:
        scenarios_chart(read_csv(scenarios_csv), f"{out}/storm-scenarios.svg")
    if hedge_csv:
        hedge_chart(read_csv(hedge_csv), f"{out}/storm-hedge.svg")
    outage = read_csv(outage_csv)
    subtitle = ""
    if log:
        with open(log, encoding="utf-8") as f:
            first = next((line for line in f if line.startswith("outage: load")), "")
        subtitle = first.removeprefix("outage: ").strip()
    outage_chart(outage, f"{out}/storm-outage.svg", subtitle)
    if series_csv:
        fleet = outage[0]["clients"]
        capacity = float(outage[0]["capacity_per_ms"])
        start, end, stop = outage_window(subtitle)
        series_chart(series_csv, f"{out}/storm-outage-series.svg", fleet,
                     ["NoRetry", "Exponential", "FullJitter", "FullJitter+Budget"], capacity,
                     (start, end), stop)
    return 0


def outage_window(subtitle):
    """(outage start, outage end, arrivals end) in seconds, from the simulator's parameter line
    ('load 0.7 of capacity, outage 20000 ms after 30000 ms, ... tail 45000 ms')."""
    words = subtitle.replace(",", "").split()
    try:
        i = words.index("outage")
        length, start = float(words[i + 1]), float(words[i + 4])
        tail = float(words[words.index("tail") + 1])
        return start / 1000, (start + length) / 1000, (start + length + tail) / 1000
    except (ValueError, IndexError):
        return 0.0, 0.0, 0.0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
