"""Figures and tables of the notebooks (`notebooks/`); matplotlib is imported when a figure
is drawn, so the module imports without it.

    import json
    from tecomp.tools import plots
    results = json.loads(open("bench-results/bench.json").read())  # python -m tecomp.tools.bench
    fig = plots.peer_bars(results)                                  # log-scale bar charts
    print(plots.peer_checks(results))                               # a markdown table

Tables are markdown strings (`IPython.display.Markdown` renders them in a notebook).
"""

import math

from .report import LABELS

ORDER = ("tecomp", "tecomp-tuned", "numpy", "scipy", "torch", "annarchy")
NAMES = {"tecomp": "tecomp", **LABELS}
COLOURS = {"tecomp": "C0", "tecomp-tuned": "C9", "numpy": "C7", "scipy": "C2", "torch": "C3",
           "annarchy": "C1", "float32": "C0", "float64": "C1", "default": "C7", "tuned": "C0",
           "tecomp cold": "C0", "tecomp cached": "C9", "tecomp tuner": "C0",
           "MetaSchedule": "C3"}


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _grid(count: int, columns: int, width: float = 4.2, height: float = 3.2):
    plt = _pyplot()
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows),
                             squeeze=False, layout="constrained", dpi=90)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:count])


def _bars(ax, groups: list[str], series: dict[str, list], errors: dict | None = None,
          log: bool = True) -> None:
    """Grouped bars: one group per label in `groups`, one bar per series (None: no bar)."""
    series = {k: v for k, v in series.items() if any(x is not None for x in v)}
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        kept = [(x, v, k) for k, (x, v) in enumerate(zip(xs, values, strict=True))
                if v is not None]
        if not kept:
            continue
        yerr = None
        if errors and name in errors:
            lo_hi = [errors[name][k] for _, _, k in kept]
            yerr = [[v - lo for (_, v, _), (lo, _) in zip(kept, lo_hi, strict=True)],
                    [hi - v for (_, v, _), (_, hi) in zip(kept, lo_hi, strict=True)]]
        ax.bar([x for x, _, _ in kept], [v for _, v, _ in kept], width, yerr=yerr,
               label=NAMES.get(name, name), color=COLOURS.get(name, f"C{i + 4}"), capsize=2)
    ax.set_xticks(range(len(groups)), groups)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", which="both", alpha=0.3)


def markdown_table(rows: list[dict], columns: dict) -> str:
    """`columns` maps a header to a key of the rows or to a function of a row."""
    def cell(row, how):
        value = how(row) if callable(how) else row.get(how)
        if isinstance(value, float):
            return f"{value:.3g}"
        return "—" if value is None else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r, how) for how in columns.values()) + " |" for r in rows]
    return "\n".join(lines)


# -- (a) the peers, from a benchmark run ----------------------------------------------------------
def bench_records(results: dict, cases=None) -> list[dict]:
    return [r for w in results["workers"] for r in w["records"]
            if cases is None or r["case"] in cases]


def peer_checks(results: dict, cases=None) -> str:
    """Each implementation's largest error against the NumPy reference, then what was not
    timed, with the reason."""
    rows, skipped = [], {}
    for r in bench_records(results, cases):
        errors = r.get("max_error", {})
        rows.append({"case": r["case"], "precision": r["precision"], "threads": r["threads"],
                     **{NAMES[p]: errors.get(p) for p in ORDER if p != "numpy"},
                     "error": r.get("error")})
        for peer, why in r.get("skipped", {}).items():
            skipped.setdefault(f"{NAMES.get(peer, peer)}: {why}", []).append(
                f"{r['case']} {r['precision']} {r['threads']}t")
    table = markdown_table(rows, {k: k for k in rows[0]} if rows else {"case": "case"})
    notes = [f"- {why} ({', '.join(where)})" for why, where in skipped.items()]
    return table + ("\n\nNot timed:\n\n" + "\n".join(notes) if notes else "")


def peer_bars(results: dict, cases=None):
    """Median ms per step (IQR bars), log scale: one panel per precision and thread count,
    one group of bars per case."""
    records = bench_records(results, cases)
    panels = sorted({(r["precision"], r["threads"]) for r in records})
    fig, axes = _grid(len(panels), 2, width=6.5, height=3.8)
    for ax, (precision, threads) in zip(axes, panels, strict=True):
        these = [r for r in records if (r["precision"], r["threads"]) == (precision, threads)]
        timed = [p for p in ORDER if any(p in r.get("stats", {}) for r in these)]
        stats = [{p: r.get("stats", {}).get(p) for p in timed} for r in these]
        series = {p: [s[p]["median_ms"] if s[p] else None for s in stats] for p in timed}
        spread = {p: [(s[p]["q1_ms"], s[p]["q3_ms"]) if s[p] else None for s in stats]
                  for p in timed}
        _bars(ax, [r["case"] for r in these], series, spread)
        ax.set_title(f"{precision}, {threads} thread(s), "
                     f"{'quick' if results.get('quick') else 'full'} sizes")
        ax.set_ylabel("ms per step (median)")
    _legend(fig, axes)
    return fig


def _legend(fig, axes) -> None:
    """One legend below the panels, for every series any panel drew."""
    handles = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(name, handle)
    fig.legend(handles.values(), handles.keys(), loc="outside lower center",
               ncols=min(6, len(handles)), fontsize="small")


# -- (b) autotuning ------------------------------------------------------------------------------
def _shape(s) -> str:
    return "×".join(map(str, s))


def label(spec: dict) -> str:
    """A short name of a serialised spec."""
    shape = _shape
    if spec.get("type") == "NeuronSpec":
        return f"update {spec['size']} {spec['dtype']}"
    if spec.get("type") == "MatrixSpec":
        return (f"Proj {spec['layout']} {spec['operation']} {spec['pre']}→{spec['post']} "
                f"{spec['dtype']}")
    window = f" {shape(spec['window'])}" if spec["kind"] == "Convolution" else ""
    return (f"{spec['kind'][:4]} {spec['operation']}{window} {shape(spec['pre'])}→"
            f"{shape(spec['post'])} {spec['dtype']}")


def best_so_far(trials: list[dict]) -> list[float]:
    """The best ms after each trial (inf until one succeeds)."""
    best, out = math.inf, []
    for t in trials:
        ms = t.get("ms")
        if isinstance(ms, int | float) and math.isfinite(ms):
            best = min(best, ms)
        out.append(best)
    return out


def records_table(records: list[dict]) -> str:
    def source(r):
        return next((t.get("source") for t in r["trials"] if t.get("knobs") == r["knobs"]), None)

    return markdown_table(records, {
        "workload": lambda r: label(r["key"]["spec"]), "threads": lambda r: r["key"]["threads"],
        "trials": lambda r: len(r["trials"]), "default ms": "default_ms", "tuned ms": "best_ms",
        "speed-up": lambda r: r["default_ms"] / r["best_ms"], "best from": source,
        "failed trials": lambda r: sum(1 for t in r["trials"] if t.get("error")),
        "record": lambda r: r["path"].rsplit("/", 2)[-2] + "/…"})


def tuning_curves(records: list[dict], columns: int = 3):
    """Best kernel time so far against trials, one panel per record (its trial log in the
    order tried); dots are the trials, a star the MetaSchedule one, dashed the default."""
    if not records:
        print("no records to plot")
        return None
    fig, axes = _grid(len(records), columns)
    for ax, r in zip(axes, records, strict=True):
        trials = r["trials"]
        xs = range(1, len(trials) + 1)
        ax.step(xs, best_so_far(trials), where="post", color="C0", label="best so far")
        for source, marker, colour, name in (("template", ".", "C7", "template"),
                                             ("metaschedule", "*", "C3", "MetaSchedule")):
            points = [(x, t["ms"]) for x, t in zip(xs, trials, strict=True)
                      if t.get("source", "template") == source and math.isfinite(t["ms"])]
            if points:
                ax.plot(*zip(*points, strict=True), marker, color=colour, ms=9 if
                        marker == "*" else 5, label=name)
        ax.axhline(r["default_ms"], ls="--", color="C7", lw=1, label="default")
        ax.set_yscale("log")
        ax.set_title(f"{label(r['key']['spec'])}, {r['key']['threads']}t", fontsize="small")
        ax.set_xlabel("trial")
        ax.set_ylabel("kernel ms")
        ax.grid(which="both", alpha=0.3)
    if axes:
        axes[0].legend(fontsize="x-small")
    return fig


def _ratio_bars(panels: list[tuple]):
    """Horizontal bars of ratios, one panel per (title, names, values, xlabel); a line at 1,
    "n/a" where a value is missing."""
    rows = max(len(p[1]) for p in panels)
    fig, axes = _grid(len(panels), 2, width=6.0, height=max(2.4, 1.2 + 0.35 * rows))
    for ax, (title, names, values, xlabel) in zip(axes, panels, strict=True):
        finite = [v if v is not None and math.isfinite(v) else 0.0 for v in values]
        ax.barh(range(len(names)), finite, color="C0")
        for y, v in enumerate(values):
            if v is None or not math.isfinite(v):
                ax.annotate("n/a", (0, y), xytext=(4, 0), textcoords="offset points",
                            va="center", fontsize="small")
        ax.set_yticks(range(len(names)), names, fontsize="small")
        ax.invert_yaxis()
        ax.axvline(1.0, color="k", lw=0.8, zorder=3)
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    return fig


def default_vs_tuned(records: list[dict], measured: list[dict] | None = None):
    """Speed-up of the tuned schedule over the default one (above 1: tuning paid). Left:
    the tuner's kernel times, per record; right: steps of the suite cases measured now."""
    if not records:
        print("no records to plot")
        return None
    xlabel = "speed-up (default time / tuned time)"
    panels = [("tuner's kernel times", [f"{label(r['key']['spec'])}, {r['key']['threads']}t"
                                        for r in records],
               [r["default_ms"] / r["best_ms"] for r in records], xlabel)]
    pick = {(r["case"], r["dtype"], r["threads"], r["variant"]): r.get("median_ms")
            for r in measured or []}
    groups = list(dict.fromkeys(k[:3] for k in pick))
    if groups:
        panels.append(("steps measured now", [f"{c} {d}, {t}t" for c, d, t in groups],
                       [pick[(*g, "default")] / pick[(*g, "tuned")]
                        if pick.get((*g, "default")) and pick.get((*g, "tuned")) else None
                        for g in groups], xlabel))
    return _ratio_bars(panels)


def metaschedule_rows(records: list[dict]) -> list[dict]:
    """Records whose trials include MetaSchedule's: its time against the template's best."""
    rows = []
    for r in records:
        ms = [t for t in r["trials"] if t.get("source") == "metaschedule"]
        if ms:
            ours = min((t["ms"] for t in r["trials"] if t.get("source") == "template"),
                       default=math.inf)
            rows.append({"workload": label(r["key"]["spec"]), "threads": r["key"]["threads"],
                         "template best ms": ours,
                         "MetaSchedule ms": min(t["ms"] for t in ms),
                         "MetaSchedule search s": sum(t.get("search_s") or 0 for t in ms),
                         "MetaSchedule error": next((t["error"] for t in ms
                                                     if t.get("error")), None)})
    return rows


def metaschedule_bars(rows: list[dict]):
    """MetaSchedule's kernel time over our tuner's best, per record (above 1: ours is
    faster; n/a: MetaSchedule found nothing that ran)."""
    return _ratio_bars([("our tuner against MetaSchedule",
                         [f"{r['workload']}, {r['threads']}t" for r in rows],
                         [r["MetaSchedule ms"] / r["template best ms"] for r in rows],
                         "MetaSchedule time / our tuner's time")])


# -- (c) scaling, (d) precision ------------------------------------------------------------------
def check_table(rows: list[dict]) -> str:
    """Every measured row's error against the NumPy reference."""
    return markdown_table(rows, {
        "case": "case", "variant": "variant", "threads": "threads", "post": "post",
        "schedule": lambda r: "tuned (record)" if r.get("record") else
        "default (no record)" if r.get("tuned") else "default",
        "error vs reference": "max_error", "tolerance": "tolerance",
        "error vs float64": "error_vs_float64", "ok": lambda r: "yes" if r.get("ok") else
        f"**no**: {r.get('error')}"})


def timing_table(rows: list[dict]) -> str:
    """Median ms per step [IQR], the projection kernel alone, and throughput."""
    return markdown_table(rows, {
        "case": "case", "pre → post": lambda r: f"{_shape(r['pre'])} → {_shape(r['post'])}",
        "window": lambda r: _shape(r["window"]), "variant": "variant", "threads": "threads",
        "ms per step": lambda r: f"{r['median_ms']:.3g} [{r['iqr_ms']:.2g}]"
        if r.get("median_ms") else None,
        "kernel ms": "kernel_ms", "GFLOP/s": "gflops", "GB/s": "gbs", "n": "n"})


def _ticks(ax, runs: dict, x: str) -> None:
    """Tick the x axis at the measured values: 64² for pixels, 3×3 for taps."""
    values = sorted({r[x] for rows in runs.values() for r in rows})
    side = [round(math.sqrt(v)) for v in values]
    if all(s * s == v for s, v in zip(side, values, strict=True)):
        ax.set_xticks(values, [f"{s}²" if x == "pixels" else f"{s}×{s}" for s in side])
        ax.minorticks_off()


def scaling(runs: dict, x: str = "pixels", xlabel: str = "post neurons", title: str = ""):
    """ms per step against `x` (a key of the rows), log-log, one line per thread count
    (`runs` = {threads: rows}), each with the ideal ∝ x line through its largest point."""
    fig, (ax,) = _grid(1, 1, width=6.0, height=4.2)
    for i, (threads, rows) in enumerate(sorted(runs.items())):
        points = sorted((r[x], r["median_ms"]) for r in rows if r.get("median_ms"))
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, "o-", color=f"C{i}", label=f"{threads} thread(s)")
        ax.plot(xs, [ys[-1] * v / xs[-1] for v in xs], ":", color=f"C{i}",
                label=f"ideal, {threads}t")
    ax.set_yscale("log")
    return _finish(fig, ax, runs, x, xlabel, "ms per step (median)", title)


def _finish(fig, ax, runs: dict, x: str, xlabel: str, ylabel: str, title: str):
    """The decoration every scaling figure shares: log x axis with the measured sizes."""
    ax.set_xscale("log")
    _ticks(ax, runs, x)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def speedup(runs: dict, x: str = "pixels", xlabel: str = "post neurons", title: str = ""):
    """Time on the fewest threads over time on each other thread count, against `x`."""
    fig, (ax,) = _grid(1, 1, width=6.0, height=3.6)
    base_threads = min(runs)
    base = {r[x]: r["median_ms"] for r in runs[base_threads] if r.get("median_ms")}
    for i, (threads, rows) in enumerate(sorted(runs.items())[1:], start=1):
        points = sorted((r[x], base[r[x]] / r["median_ms"]) for r in rows
                        if r.get("median_ms") and r[x] in base)
        if points:
            ax.plot(*zip(*points, strict=True), "o-", color=f"C{i}",
                    label=f"{base_threads} → {threads} threads")
            ax.axhline(threads / base_threads, ls=":", color=f"C{i}", label="ideal")
    ax.axhline(1.0, color="k", lw=0.5)
    return _finish(fig, ax, runs, x, xlabel, "speed-up", title)


def variant_bars(rows: list[dict], variants: tuple[str, ...] = ("float32", "float64"),
                 title: str = ""):
    """Median ms per step of each case under each variant (log scale, IQR bars), with the
    ratio of the last variant to the first written above each group."""
    fig, (ax,) = _grid(1, 1, width=max(6.0, 1.1 * len(rows) / len(variants)), height=4.0)
    cases = list(dict.fromkeys(r["case"] for r in rows))
    pick = {(r["case"], r["variant"]): r for r in rows}
    series = {v: [pick.get((c, v), {}).get("median_ms") for c in cases] for v in variants}
    spread = {v: [(pick[(c, v)]["q1_ms"], pick[(c, v)]["q3_ms"])
                  if pick.get((c, v), {}).get("median_ms") else None for c in cases]
              for v in variants}
    _bars(ax, cases, series, spread)
    for i, (first, last) in enumerate(zip(series[variants[0]], series[variants[-1]],
                                          strict=True)):
        if first and last:
            ax.annotate(f"×{last / first:.2g}", (i, max(first, last)), ha="center",
                        va="bottom", xytext=(0, 6), textcoords="offset points",
                        fontsize="small")
    low, high = ax.get_ylim()
    ax.set_ylim(low, high * 1.6)  # room for the ratios
    ax.set_ylabel("ms per step (median)")
    ax.set_title(title or f"{variants[-1]} / {variants[0]}")
    ax.legend(fontsize="small")
    return fig


# -- (e) end to end ---------------------------------------------------------------------------
def end_to_end_table(results: list[dict]) -> str:
    rows = [{**r, **{f"{p} s/sim s": r["s_per_sim_s"].get(p) for p in ("tecomp", "numpy",
                                                                        "annarchy")}}
            for r in results]
    return markdown_table(rows, {
        "network": "name", "precision": "dtype", "threads": "threads",
        "tecomp error": lambda r: r["max_error"].get("tecomp"),
        "ANNarchy error": lambda r: r["max_error"].get("annarchy"),
        "tecomp s/sim s": "tecomp s/sim s", "NumPy s/sim s": "numpy s/sim s",
        "ANNarchy s/sim s": "annarchy s/sim s",
        "tecomp compile s (cold / cached)": lambda r: f"{r['compile_cold_s']:.2f} / "
                                                      f"{r['compile_cached_s']:.2f}",
        "ANNarchy compile s": "annarchy_compile_s",
        "tuned kernels": lambda r: f"{r['tuned_kernels']} of {r['kernels']}",
        "not run": lambda r: "; ".join(f"{NAMES.get(p, p)}: {why}"
                                       for p, why in r["skipped"].items()) or None})


def end_to_end(results: list[dict]):
    """Left: seconds of computing per simulated second (log). Right: compile seconds."""
    fig, (left, right) = _grid(2, 2, width=6.0, height=4.0)
    groups = [f"{r['name']}\n{r['dtype']}\n{r['threads']}t" for r in results]
    peers = [p for p in ("tecomp", "numpy", "annarchy")
             if any(p in r["s_per_sim_s"] for r in results)]
    _bars(left, groups, {p: [r["s_per_sim_s"].get(p) for r in results] for p in peers})
    left.set_ylabel("s per simulated second (dt = 1 ms)")
    left.set_title("simulation")
    left.legend(fontsize="small")
    _bars(right, groups, {"tecomp cold": [r["compile_cold_s"] for r in results],
                          "tecomp cached": [r["compile_cached_s"] for r in results],
                          "annarchy": [r.get("annarchy_compile_s") for r in results]})
    right.set_ylabel("compile s")
    right.set_title("compile time")
    right.legend(fontsize="small")
    return fig


# -- (f) many inputs, many networks -------------------------------------------------------------
BATCH_SYSTEMS = ("run_batch", "batched steps", "sequential", "torch-nchw", "torch-cl")
COPY_MODES = ("sequential", "local", "dask")


def batch_table(rows: list[dict]) -> str:
    """Per-input ms of each system (`tools.many.batches` rows) and the ratios."""
    return markdown_table(rows, {
        "network": "name", "inputs": "size", "precision": "dtype", "threads": "threads",
        **{f"{s} ms/input": (lambda r, s=s: r["per_input_ms"].get(s)) for s in BATCH_SYSTEMS},
        "sequential / run_batch": "speedup_over_sequential",
        "sequential / batched steps": "steps_speedup",
        "run_batch / best torch": "run_batch_over_torch", "best torch": "best_torch",
        "largest error": lambda r: max(r["errors"].values()),
        "not run": lambda r: "; ".join(f"{k}: {v}" for k, v in r["skipped"].items()) or None})


def copies_table(row: dict) -> str:
    """Wall time, time and overhead per copy, speed-up (`tools.many.copies`)."""
    rows = [{"mode": m, "wall_s": row["stats"][m]["median_ms"] / 1e3,
             "per_copy_ms": 1e3 * row["per_copy_s"][m],
             "compute_ms": 1e3 * row["compute_s"][m],
             "overhead_ms": 1e3 * row["overhead_per_copy_s"][m],
             "speedup": row["speedup"][m], "error": row["errors"].get(m)}
            for m in COPY_MODES if m in row["stats"]]
    return markdown_table(rows, {
        "mode": "mode", "copies": lambda r: row["number"],
        "workers": lambda r: 1 if r["mode"] == "sequential" else row["workers"],
        "wall s": "wall_s", "ms per copy": "per_copy_ms",
        "simulation ms per copy": "compute_ms", "overhead ms per copy": "overhead_ms",
        "speed-up over sequential": "speedup", "largest error": "error"})


def many_networks(rows: list[dict], copies: dict):
    """Left: ms per input of each system on each network (log). Right: ms per copy,
    simulation and overhead stacked, for each way of running the copies."""
    fig, (left, right) = _grid(2, 2, width=6.0, height=4.0)
    groups = [f"{r['name']}, {r['size']} inputs" for r in rows]
    _bars(left, groups, {s: [r["per_input_ms"].get(s) for r in rows] for s in BATCH_SYSTEMS})
    left.set_ylabel("ms per input (median)")
    left.set_title("one network, a batch of inputs")
    if rows:
        left.legend(fontsize="small")
    modes = [m for m in COPY_MODES if m in copies["stats"]]
    compute = [1e3 * copies["compute_s"][m] / (1 if m == "sequential" else copies["workers"])
               for m in modes]
    overhead = [1e3 * copies["overhead_per_copy_s"][m] for m in modes]
    right.bar(modes, compute, color="C0", label="simulation")
    right.bar(modes, overhead, bottom=compute, color="C7", label="overhead")
    right.set_ylabel("wall ms per copy")
    right.set_title(f"E1, {copies['number']} copies on {copies['workers']} workers")
    right.legend(fontsize="small")
    right.grid(axis="y", alpha=0.3)
    return fig
