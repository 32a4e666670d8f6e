#!/usr/bin/env python3
"""Plots the storm simulator's `fleet` mode (docs/storm-fleet.csv) as docs/storm-fleet.svg:
requests the dead origin received before every isolate refused, and probes per open period,
against the number of isolates, each isolate with its own breaker (dashed) or the fleet's
(solid), for quiet and busy isolates. Hand-written SVG, standard library only.

    python3 scripts/fleet-plot.py docs/storm-fleet.csv docs/storm-fleet.svg
"""
import csv
import math
import sys

W, H, PAD = 380, 300, 56
COLOURS = {"2": "#1f77b4", "20": "#d62728"}


def panel(rows, field, title, x0, ylabel):
    xs = sorted({int(r["isolates"]) for r in rows})
    ys = [float(r[field]) for r in rows if r[field] not in ("NA", "")]
    lo = 0.1 if field == "probes_per_period" else max(1.0, min(y for y in ys if y > 0))
    hi = max(ys) * 1.5
    lx0, lx1 = math.log10(xs[0]), math.log10(xs[-1])
    ly0, ly1 = math.log10(lo), math.log10(hi)
    px = lambda x: x0 + PAD + (math.log10(x) - lx0) / (lx1 - lx0 or 1) * (W - 2 * PAD)
    py = lambda y: H - PAD - (math.log10(max(y, lo)) - ly0) / (ly1 - ly0 or 1) * (H - 2 * PAD)
    out = [f'<text x="{x0 + W / 2}" y="20" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{x0 + PAD}" y1="{H - PAD}" x2="{x0 + W - PAD}" y2="{H - PAD}" stroke="black"/>',
           f'<line x1="{x0 + PAD}" y1="{PAD}" x2="{x0 + PAD}" y2="{H - PAD}" stroke="black"/>',
           f'<text x="{x0 + W / 2}" y="{H - 18}" text-anchor="middle">isolates</text>',
           f'<text x="{x0 + 14}" y="{H / 2}" text-anchor="middle" transform="rotate(-90 {x0 + 14} {H / 2})">{ylabel}</text>']
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{H - PAD + 16}" text-anchor="middle">{x}</text>')
    for e in range(math.floor(ly0), math.ceil(ly1) + 1):
        y = 10 ** e
        if lo <= y <= hi:
            out.append(f'<text x="{x0 + PAD - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
            out.append(f'<line x1="{x0 + PAD}" y1="{py(y):.1f}" x2="{x0 + W - PAD}" y2="{py(y):.1f}" stroke="#ddd"/>')
    for rps, colour in COLOURS.items():
        for mode in ("local", "fleet"):
            pts = [(int(r["isolates"]), float(r[field])) for r in rows
                   if r["rps"] == rps and r["mode"] == mode and r[field] not in ("NA", "")]
            if not pts:
                continue
            dash = ' stroke-dasharray="6 4"' if mode == "local" else ""
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            for x, y in pts:
                out.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
    return out


def main(src, dst):
    with open(src, newline="") as f:
        rows = list(csv.DictReader(f))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{H + 40}" font-family="sans-serif" font-size="11">',
             '<rect width="100%" height="100%" fill="white"/>']
    parts += panel(rows, "failed_before_open", "Requests to the dead origin before all refuse", 0, "requests")
    parts += panel(rows, "probes_per_period", "Probes per open period (origin still down)", W, "probes")
    legend = [("2", "local"), ("2", "fleet"), ("20", "local"), ("20", "fleet")]
    for i, (rps, mode) in enumerate(legend):
        x = 60 + i * 180
        dash = ' stroke-dasharray="6 4"' if mode == "local" else ""
        parts.append(f'<line x1="{x}" y1="{H + 22}" x2="{x + 30}" y2="{H + 22}" stroke="{COLOURS[rps]}" stroke-width="2"{dash}/>')
        label = f"{rps} rps/isolate, {'own breakers' if mode == 'local' else 'fleet'}"
        parts.append(f'<text x="{x + 36}" y="{H + 26}">{label}</text>')
    parts.append("</svg>")
    with open(dst, "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
