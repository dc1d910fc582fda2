"""Numbers derived from the benchmark's timings, and its markdown tables.

`derive` adds to a case record: median and spread per implementation, GFLOP/s (2 flop per
tap) and GB/s (pre read once + post written once), a peer timed in several configurations
(PyTorch in NCHW and channels-last) as its best one (`VARIANTS`; `record["best"]` says
which), the ratio of every peer's median to tecomp's (above 1: tecomp is faster) and
tecomp's share of the machine limit its case is judged against (`tools.limits.judge`: peak
FMA GFLOP/s when the case's flop per byte reaches the machine balance, else the GB/s of a
copy of the case's size, `record["copy"]`).
"""

import numpy as np

from . import limits

PEERS = ("tecomp-tuned", "numpy", "scipy", "torch", "annarchy")
# A peer timed in several configurations: {peer: {runner name: configuration}}.
VARIANTS = {"torch": {"torch-nchw": "NCHW", "torch-cl": "channels-last"}}
LABELS = {"tecomp-tuned": "tuned", "numpy": "NumPy ref / W @ x",
          "scipy": "scipy.ndimage / .sparse",
          "torch": "PyTorch", "annarchy": "ANNarchy", "torch-nchw": "PyTorch NCHW",
          "torch-cl": "PyTorch channels-last"}
SHORT = {"NCHW": "NCHW", "channels-last": "CL"}


def peer_of(name: str) -> str:
    """The peer a runner belongs to ("torch-cl" -> "torch")."""
    return next((peer for peer, names in VARIANTS.items() if name in names), name)


def merge_skipped(record: dict) -> None:
    """A peer none of whose configurations ran is skipped as the peer, with their reasons."""
    skipped = record.setdefault("skipped", {})
    for peer, names in VARIANTS.items():
        if all(n in skipped for n in names):
            reasons = dict.fromkeys(skipped.pop(n) for n in names)
            skipped[peer] = "; ".join(reasons)
MEMORY_NOTE = ("peak RSS = VmHWM (/proc/self/status) of a fresh process that imports tecomp "
               "and TVM, builds, compiles and steps the case once; ANNarchy: of its own "
               "process after the timed steps")


def stats(samples_ms: list[float]) -> dict:
    q1, median, q3 = np.percentile(samples_ms, [25, 50, 75])
    return {"median_ms": float(median), "q1_ms": float(q1), "q3_ms": float(q3),
            "iqr_ms": float(q3 - q1), "min_ms": float(min(samples_ms)), "n": len(samples_ms)}


def derive(record: dict, machine: dict) -> None:
    samples = record.get("samples_ms") or {}
    record["stats"] = {name: stats(s) for name, s in samples.items() if s}
    for s in record["stats"].values():
        seconds = s["median_ms"] / 1e3
        if record.get("flops"):
            s["gflops"] = record["flops"] / seconds / 1e9
        if record.get("bytes"):
            s["gbs"] = record["bytes"] / seconds / 1e9
    _best_variants(record)
    base = record["stats"].get("tecomp")
    if base is None:
        return
    record["ratios"] = {name: s["median_ms"] / base["median_ms"]
                        for name, s in record["stats"].items() if name != "tecomp"}
    record.pop("limit", None)
    if record.get("flops") and record.get("bytes") and "fma_gflops" in machine:
        record["limit"] = limits.judge(record["flops"], record["bytes"], record["precision"],
                                       machine, base["gflops"], base["gbs"],
                                       (record.get("copy") or {}).get("gbs"))


def _best_variants(record: dict) -> None:
    """stats (and max_error) of a peer timed in several configurations: its fastest one's,
    with "variant" naming it; record["best"] = {peer: configuration}."""
    record["best"] = {}
    for peer, names in VARIANTS.items():
        timed = [n for n in names if n in record["stats"]]
        if not timed:
            continue
        fastest = min(timed, key=lambda n: record["stats"][n]["median_ms"])
        record["stats"][peer] = {**record["stats"][fastest], "variant": names[fastest]}
        record["best"][peer] = names[fastest]
        if fastest in record.get("max_error", {}):
            record["max_error"][peer] = record["max_error"][fastest]


def _ms(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _throughput(record: dict, s: dict) -> str:
    if record.get("unit") == "GB/s" or "pooling" in record.get("title", "").lower():
        return f"{s.get('gbs', 0):.1f} GB/s"
    return f"{s.get('gflops', 0):.1f} GFLOP/s"


def summary(record: dict) -> str:
    """One line for the console."""
    if record.get("error"):
        return record["error"]
    parts = []
    for name, s in record["stats"].items():
        ratio = record.get("ratios", {}).get(name)
        parts.append(f"{name} {_ms(s['median_ms'])} ms" + (f" (x{ratio:.2g})" if ratio else ""))
    skipped = ", ".join(record.get("skipped", {}))
    return "; ".join(parts) + (f"; skipped: {skipped}" if skipped else "")


def markdown(results: dict) -> str:
    m, v = results["machine"], results["versions"]
    lines = [
        f"# tecomp benchmark ({'quick' if results['quick'] else 'full'} run)", "",
        f"- date: {results['date']}; command: `{results['command']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores ({' '.join(m['simd'])}), "
        f"{m['memory_gib']} GiB; {m['os']}, Python {m['python']}",
        "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
        f"- a step = `net.step()` (projection + neuron update); median of up to "
        f"{results['repeats']} interleaved rounds, [IQR], each timed after 20 ms of untimed "
        "steps (as in a running simulation); slow peers stop after their time "
        "budget (n in the JSON); ×N = peer median / tecomp median (N > 1: tecomp faster)",
        "- throughput: 2 flop per tap (convolutions); bytes = pre read + post written (B7, B8: "
        "+ every weight, + int32 CSR indices for B8); "
        "bound: compute when the case's flop/byte reaches the machine balance (peak FMA "
        "GFLOP/s / copy GB/s), else memory; of limit: tecomp's share of peak FMA GFLOP/s "
        "(compute-bound) or of copy GB/s (memory-bound), the copy of as many bytes as the "
        "case moves, measured after its timings (from the caches where they fit, as the "
        "case's data do; a kernel that reads more than it writes can pass 100%); peak FMA "
        "measured by each worker before and after its cases, the better kept",
        "- PyTorch: oneDNN enabled, `torch.set_num_threads` = the thread count, under "
        "`torch.inference_mode()`, timed in NCHW and in channels-last (CL); its column is the "
        "faster, named; the last column gives both",
    ]
    for w in results["workers"]:
        policy = (w.get("env") or {}).get("OMP_WAIT_POLICY")
        lines.append(f"- {w['threads']} thread(s): " + limits_line(w["limits"]) +
                     (f"; OMP_WAIT_POLICY={policy}" if policy else "") +
                     "".join(f"; denormal/normal step {d} {ratio}×" for d, ratio in
                             w["limits"].get("denormal_ratio", {}).items()))
    header = ["case", "precision", "threads", "tecomp ms [IQR]", "throughput",
              "bound (flop/B vs balance)", "of limit", "kernel ms",
              *(LABELS[p] + " ms (×)" for p in PEERS), "PyTorch NCHW / CL ms"]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    notes: dict[str, list[str]] = {}
    records = [r for w in results["workers"] for r in w["records"]]
    for r in records:
        lines.append("| " + " | ".join(_row(r, notes, results["quick"])) + " |")
    lines += ["", "Compile time (default schedules; tecomp: a fresh process each, cold = empty "
              "kernel cache, cached = the second one; ANNarchy: its compile() in a fresh "
              "folder, then again in that folder for the next thread count) and peak memory:",
              "", "| case | precision | threads | tecomp cold s | tecomp cached s | "
              "ANNarchy compile s | ANNarchy again s | tecomp peak RSS MB (after import) | "
              "ANNarchy peak RSS MB |", "|---|---|---|---|---|---|---|---|---|"]
    again = {}
    for r in records:
        seconds = r.get("info", {}).get("annarchy", {}).get("compile_s")
        if seconds is not None:
            again.setdefault((r["case"], r["precision"]), []).append(seconds)
    for r in records:
        if r.get("compile"):
            runs = again.get((r["case"], r["precision"]), [])
            lines.append("| " + " | ".join(_compile_row(r, runs)) + " |")
    lines += ["", f"Memory: {results['memory_note']}."]
    if notes:
        lines += ["", "Not timed:"]
        lines += [f"- {reason}: {', '.join(where)}" for reason, where in notes.items()]
    lines.append(f"\nTotal run time: {results['seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def _row(r: dict, notes: dict, quick: bool = False) -> list[str]:
    # a quick run's cases are small variants: the title would name the full sizes
    title = f"(small: {_shape(r['pre'])} → {_shape(r['post'])})" if quick and "pre" in r \
        else r.get("title", "")
    cells = [r["case"] + (f" {title}" if title else ""), r["precision"], str(r["threads"])]
    where = f"{r['case']} {r['precision']} {r['threads']}t"
    problem = r.get("error")
    if problem:
        notes.setdefault(problem, []).append(where)
        return cells + ["—"] * (6 + len(PEERS))
    base = r["stats"]["tecomp"]
    limit = r.get("limit")
    kernel = r.get("info", {}).get("tecomp", {}).get("kernel_ms")
    cells += [f"{_ms(base['median_ms'])} [{_ms(base['iqr_ms'])}]", _throughput(r, base),
              _bound(limit),
              _share(limit),
              _ms(kernel) if kernel else ""]
    for peer in PEERS:
        s = r["stats"].get(peer)
        if s is None:
            reason = r.get("skipped", {}).get(peer, "not run")
            notes.setdefault(f"{LABELS[peer]}: {reason}", []).append(where)
            cells.append("—")
        else:
            variant = f" {SHORT[s['variant']]}" if "variant" in s else ""
            cells.append(f"{_ms(s['median_ms'])}{variant} (×{r['ratios'][peer]:.2g})")
    for name in VARIANTS["torch"]:  # one layout not timed while the other was
        if name in r.get("skipped", {}):
            notes.setdefault(f"{LABELS[name]}: {r['skipped'][name]}", []).append(where)
    cells.append(" / ".join(_ms(r["stats"][n]["median_ms"]) if n in r["stats"] else "—"
                            for n in VARIANTS["torch"]))
    return cells


def _shape(shape) -> str:
    return "×".join(map(str, shape)) if isinstance(shape, list | tuple) else str(shape)


def _share(limit: dict | None) -> str:
    """"88% peak FMA", or "96% copy (50.4 GB/s)" with the rate of the case's copy."""
    if not limit:
        return ""
    rate = f" ({limit['limit']:.3g} GB/s)" if limit["name"] == "copy" else ""
    return f"{100 * limit['fraction']:.0f}% {limit['name']}{rate}"


def _bound(limit: dict | None) -> str:
    if not limit:
        return ""
    sign = "≥" if limit["bound"] == "compute" else "<"
    return f"{limit['bound']} ({limit['intensity']:.3g} {sign} {limit['balance']:.3g})"


def limits_line(lim: dict) -> str:
    """The machine limits of one worker, in words."""
    if "fma_gflops" not in lim:  # a run from before tools.limits
        return f"copy of {lim.get('copy_mb')} MB {lim.get('copy_gbs')} GB/s"
    fma = lim["fma"]
    peak = " / ".join(f"{d} {v}" for d, v in lim["fma_gflops"].items())
    nominal = " / ".join(f"{v}" for v in lim.get("nominal_gflops", {}).values() if v)
    shape = (f"{next(iter(fma.values()))['chains']} chains × "
             f"{' / '.join(str(f['lanes']) for f in fma.values())} lanes")
    checked = "" if all(f["ok"] for f in fma.values()) else \
        " (CHECK FAILED: output off, or not slower with twice the iterations)"
    balance = " / ".join(f"{limits.balance(lim, d):.3g}" for d in lim["fma_gflops"])
    copy = lim["copy"]
    return (f"peak FMA {peak} GFLOP/s (TVM kernel, {shape}; nominal at the cpu MHz clock "
            f"{nominal}){checked}; copy of {copy['megabytes']} MiB {copy['gbs']} GB/s "
            f"(np.copyto {copy['numpy_gbs']}, TVM {copy['tvm_gbs']}); balance {balance} "
            "flop/B against this copy (a case's bound column: against the copy of its size)")


def _compile_row(r: dict, annarchy: list[float]) -> list[str]:
    cold, cached = r["compile"].get("cold", {}), r["compile"].get("cached", {})
    rss = r.get("info", {}).get("annarchy", {}).get("peak_rss_mb")

    def number(value, fmt="{:.2f}"):
        return fmt.format(value) if isinstance(value, int | float) else "—"

    memory = number(cold.get("peak_rss_mb"), "{:.0f}")
    if "rss_before_mb" in cold:
        memory += f" ({cold['rss_before_mb']:.0f})"
    return [r["case"], r["precision"], str(r["threads"]), number(cold.get("compile_s")),
            number(cached.get("compile_s")), number(annarchy[0] if annarchy else None, "{:.1f}"),
            number(annarchy[1] if len(annarchy) > 1 else None, "{:.1f}"), memory,
            number(rss, "{:.0f}")]
