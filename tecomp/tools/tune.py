"""tecomp-tune: tune the kernels of a script's network, or of the benchmark cases.

    tecomp-tune model.py              # run model.py up to compile(), tune its kernels
    tecomp-tune model.py -- --size 64 # the script's own arguments follow --
    tecomp-tune --suite bench         # tune the benchmark cases B1-B6 into schedules/
    tecomp-tune --list                # show the cached records

The search itself is `tecomp.tuning` (candidates built and timed in a worker process, the
best kept as a record in the cache); this is its command line. `python -m tecomp.tools.tune`
is the same command.
"""

import argparse
import os
import runpy
import sys
from pathlib import Path

import numpy as np

from tecomp import network, tuning
from tecomp.network import PRECISIONS

from . import suite


class _StopAtCompile(Exception):
    """Raised by compile() while tecomp-tune runs a user's script: the network is built."""


def networks_of_script(path: str, argv: list[str]) -> list:
    """Run a user's script until its first compile() and return the network(s) it built."""
    captured = []

    def capture(net):
        captured.append(net)
        raise _StopAtCompile

    saved_argv = sys.argv
    network.clear()
    network.on_compile = capture
    sys.argv = [path, *argv]
    try:
        runpy.run_path(path, run_name="__main__")
    except _StopAtCompile:
        pass
    finally:
        network.on_compile = None
        sys.argv = saved_argv
    if not captured:  # a script that never calls compile(): tune what it described
        captured.append(network.default_network())
    return captured


def suite_networks(precisions: list[str], names: list[str] | None) -> list:
    """A network per benchmark case (`tools.suite`, full sizes) and precision."""
    nets = []
    for case in suite.cases(names):
        for precision in precisions:
            net = network.Network(precision=precision)
            case.build(net, np.random.default_rng(0))
            nets.append(net)
    return nets


def print_results(results: list) -> None:
    print(f"{'kernel':<58} {'default ms':>10} {'tuned ms':>9} {'speed-up':>8} {'trials':>6} "
          f"{'s':>5}")
    for r in results:
        print(f"{tuning.label(r.spec):<58} {r.default_ms:>10.4f} {r.best_ms:>9.4f} "
              f"{r.speedup:>7.2f}x {len(r.trials):>6} {r.seconds:>5.0f}"
              + ("  (MetaSchedule)" if r.source == "metaschedule" else ""))


def list_records(folder: Path | None) -> None:
    records = tuning.records(folder)
    if not records:
        print("no tuned records")
    for record in records:
        print(f"{tuning.label(record.spec):<58} threads={record.threads} "
              f"default={record.default_ms:.4f} ms tuned={record.best_ms:.4f} ms "
              f"({len(record.trials)} trials)  {record.path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tecomp-tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("script", nargs="?", help="a tecomp script; its arguments follow --")
    parser.add_argument("script_args", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--suite", choices=["bench"], help="tune the benchmark cases B1-B6")
    parser.add_argument("--precision", action="append", choices=list(PRECISIONS),
                        help="with --suite (default: both)")
    parser.add_argument("--cases", help="with --suite: comma-separated case names (B1,B2)")
    parser.add_argument("--metaschedule", type=int, default=0, metavar="TRIALS",
                        help="also search with MetaSchedule (that many trials), keep the faster")
    parser.add_argument("--trials", type=int, default=64, help="candidates per kernel")
    parser.add_argument("--seconds", type=float, default=120.0, help="time budget per kernel")
    parser.add_argument("--threads", type=int, default=None,
                        help="TVM threads to tune for (default: TVM_NUM_THREADS or all cores)")
    parser.add_argument("--cache-dir", type=Path, help="user cache directory (TECOMP_CACHE)")
    parser.add_argument("--out", type=Path, help="write records here instead of the cache "
                        "(--suite: instead of the committed schedules/)")
    parser.add_argument("--list", action="store_true", help="show the cached records")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.cache_dir:
        os.environ["TECOMP_CACHE"] = str(args.cache_dir)
    if args.threads:
        os.environ["TVM_NUM_THREADS"] = str(args.threads)
    if args.list:
        list_records(args.out)
        return 0
    if args.suite:
        nets = suite_networks(args.precision or list(PRECISIONS),
                              args.cases.split(",") if args.cases else None)
        folder = args.out or tuning.committed_dir()
    elif args.script:
        nets = networks_of_script(args.script, args.script_args)
        folder = args.out
    else:
        parser.error("give a script, --suite bench or --list")
    threads = int(os.environ.get("TVM_NUM_THREADS", os.cpu_count() or 1))
    specs = list(dict.fromkeys(spec for net in nets for spec in tuning.network_specs(net)))
    results = tuning.tune_specs(specs, args.trials, args.seconds, threads, progress=True,
                                folder=folder, metaschedule=args.metaschedule)
    print_results(results)
    unsaved = [r for r in results if r.record is None]
    if unsaved:
        print(f"tecomp-tune: {len(unsaved)} of {len(results)} records could not be written "
              "(see the warnings above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
