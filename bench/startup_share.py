"""Share of each rule's job time spent starting Python and importing, from a finished run.

For every job: total = Snakemake's ``benchmark:`` wall time (``benchmarks/<rule>/*.tsv``);
body = the time :func:`romandia.runner.run` logs as ``done in X s`` (the rule's work, lazy
imports of galsim/sfft/photutils inside it included).  start-up = total - body: interpreter,
Snakemake's script preamble, module imports, logging set-up.

With the worker (``romandia.worker``, config ``worker``), a delegated job's body is timed in
its forked process and its start-up is the client's (interpreter, preamble, hand-over, and for
the first jobs the wait for the worker's first imports).  The worker's own import time is
printed below the table, not added to it: the first jobs' wait already holds it.

usage: python bench/startup_share.py WORKDIR     (e.g. the repo root after `make demo`)
"""

import re
import sys
from pathlib import Path


def main():
    work = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    rows, all_tot, all_body = [], 0.0, 0.0
    for bdir in sorted((work / "benchmarks").iterdir()):
        rule = bdir.name
        tot = body = 0.0
        n = 0
        for tsv in bdir.rglob("*.tsv"):
            t = float(tsv.read_text().splitlines()[1].split("\t")[0])
            log = work / "logs" / rule / tsv.relative_to(bdir).with_suffix(".log")
            m = re.findall(r"done in ([0-9.]+) s", log.read_text()) if log.exists() else []
            if not m:
                continue
            tot, body, n = tot + t, body + float(m[-1]), n + 1
        if n:
            rows.append((rule, n, tot, body))
            all_tot, all_body = all_tot + tot, all_body + body
    print("| rule | jobs | job time [s] | work [s] | start-up + imports [s] | share |")
    print("|---|---|---|---|---|---|")
    for rule, n, tot, body in rows:
        print(f"| {rule} | {n} | {tot:.1f} | {body:.1f} | {tot - body:.1f} | {100 * (tot - body) / tot:.0f} % |")
    print(f"| all | {sum(r[1] for r in rows)} | {all_tot:.1f} | {all_body:.1f} | {all_tot - all_body:.1f} | "
          f"{100 * (all_tot - all_body) / all_tot:.0f} % |")
    wlog = work / "logs" / "worker.log"
    if wlog.exists():
        text = wlog.read_text()
        for what, pat in (("before serving", r"INFO imports done in ([0-9.]+) s"),
                          ("while idle", r"further imports done in ([0-9.]+) s")):
            m = re.findall(pat, text)
            if m:
                print(f"\nworker's imports {what}: {float(m[-1]):.2f} s (once per run)", end="")
        print()


if __name__ == "__main__":
    main()
