#!/usr/bin/env python3
"""Aggregates benchmark JSON lines into the result files of benchmarks/run.sh.

    report.py RESULTS_DIR [--command "how to reproduce"]

Reads RESULTS_DIR/latest.jsonl (one {"suite","task","impl","unit","median","min","max","n","note"}
per line, several lines per (suite, task, impl) when the runs were repeated: their medians are
the samples), writes latest.csv, summary.md and ratios.png (gnuplot), prints the table.

Ratios: for each (suite, task) every implementation whose name starts with "morm" is compared
with every other one. For rates (…/s) ratio = morm / peer; for costs (ms, s, us, MiB, bytes…)
ratio = peer / morm. So ratio > 1 always means morm is better."""
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import OrderedDict
from datetime import datetime, timezone


def lower_is_better(unit):
    u = unit.lower()
    return not u.endswith("/s") and u not in ("x", "ratio")


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def main():
    out_dir = sys.argv[1]
    command = sys.argv[sys.argv.index("--command") + 1] if "--command" in sys.argv else "benchmarks/run.sh"
    rows = OrderedDict()
    with open(os.path.join(out_dir, "latest.jsonl")) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            key = (r.get("suite", ""), r.get("task", ""), r.get("impl", ""), r.get("unit", ""))
            rows.setdefault(key, []).append(r)

    agg = OrderedDict()
    for key, rs in rows.items():
        if len(rs) == 1:
            r = rs[0]
            agg[key] = {"median": float(r["median"]), "min": float(r.get("min", r["median"])),
                        "max": float(r.get("max", r["median"])), "n": int(r.get("n", 1)), "note": r.get("note", "")}
        else:
            meds = [float(r["median"]) for r in rs]
            agg[key] = {"median": statistics.median(meds), "min": min(float(r.get("min", r["median"])) for r in rs),
                        "max": max(float(r.get("max", r["median"])) for r in rs),
                        "n": sum(int(r.get("n", 1)) for r in rs), "note": rs[0].get("note", "")}

    # ratios per (suite, task)
    tasks = OrderedDict()
    for (suite, task, impl, unit), a in agg.items():
        tasks.setdefault((suite, task), []).append((impl, unit, a))
    ratios = []  # (suite, task, morm impl, peer, ratio)
    for (suite, task), impls in tasks.items():
        morms = [x for x in impls if x[0].startswith("morm")]
        peers = [x for x in impls if not x[0].startswith("morm")]
        for mi, mu, ma in morms:
            for pi, pu, pa in peers:
                if pu != mu or ma["median"] <= 0 or pa["median"] <= 0:
                    continue
                r = pa["median"] / ma["median"] if lower_is_better(mu) else ma["median"] / pa["median"]
                ratios.append((suite, task, mi, pi, r))

    with open(os.path.join(out_dir, "latest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["suite", "task", "impl", "unit", "median", "min", "max", "n", "note"])
        for (suite, task, impl, unit), a in agg.items():
            w.writerow([suite, task, impl, unit, f"{a['median']:.6g}", f"{a['min']:.6g}", f"{a['max']:.6g}", a["n"],
                        a["note"]])

    info = machine_info()
    ratio_of = {}
    for suite, task, mi, pi, r in ratios:
        ratio_of[(suite, task, pi)] = ratio_of.get((suite, task, pi), []) + [f"{r:.2f}x" + ("" if mi == "morm" else f" ({mi})")]
    lines = ["# morm benchmark results", "",
             f"Machine: {info['nproc']} cores, {info['cpu']}, Linux {info['kernel']}; run {info['date']}.", "",
             f"Reproduce: `{command}`", "",
             "Medians over the repetitions (n = samples), spread = min–max. Ratio: morm vs that peer, "
             "> 1 means morm is better (rates: morm/peer; costs such as ms or MiB: peer/morm). "
             "Every peer ran against the same server in the same run, interleaved.", ""]
    for suite in OrderedDict((k[0], 1) for k in tasks):
        lines += [f"## {suite}", "", "| task | impl | median | spread (min–max) | n | ratio morm vs impl | note |",
                  "|---|---|---:|---|---:|---|---|"]
        for (s, task), impls in tasks.items():
            if s != suite:
                continue
            for impl, unit, a in impls:
                rr = ", ".join(ratio_of.get((s, task, impl), [])) or ("—" if impl.startswith("morm") else "")
                lines.append(f"| {task} | {impl} | {a['median']:.4g} {unit} | {a['min']:.4g}–{a['max']:.4g} | "
                             f"{a['n']} | {rr} | {a['note']} |")
        lines.append("")
    summary = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(summary)

    # plot: one bar per (task, peer), log scale
    plot_rows = [(f"{s}: {t} vs {p}" + ("" if m == "morm" else f" [{m}]"), r) for s, t, m, p, r in ratios]
    if plot_rows:
        dat = os.path.join(out_dir, "ratios.dat")
        with open(dat, "w") as f:
            for i, (label, r) in enumerate(plot_rows):
                f.write(f'{i} {r:.6g} "{label}"\n')
        height = max(600, 18 * len(plot_rows) + 200)
        script = f"""set terminal pngcairo size 1400,{height} noenhanced font ",9"
set output "{os.path.join(out_dir, 'ratios.png')}"
set title "morm vs peers (ratio > 1: morm better; log scale)"
set logscale x 2
set xlabel "ratio"
set ytics nomirror
set yrange [-1:{len(plot_rows)}]
set grid xtics
set style fill solid 0.6
unset key
set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 lc rgb "black"
set format x "%g"
# boxxyerror (x, y, xlow, xhigh, ylow, yhigh): each bar spans from 1 to its ratio
plot "{dat}" using (sqrt($2)):1:($2 < 1 ? $2 : 1):($2 < 1 ? 1 : $2):($1-0.35):($1+0.35):ytic(3) with boxxyerror lc rgb "#4472c4"
"""
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"report.py: gnuplot failed: {getattr(e, 'stderr', e)}", file=sys.stderr)
    print(summary)


if __name__ == "__main__":
    main()
