"""Which callables Snakemake inspects (``inspect.signature``) while building a DAG.

Snakemake looks up the parameters of every input, params and resource function at every call
unless the function was registered with ``snakemake.common.overwrite_function_params``
(romandia's input functions are: workflow/rules/common.smk).  This runs ``snakemake -n`` in this
process on a synthetic plan of ``--objects`` objects (bench/dag_scale.py) and counts the
callables that were inspected, by name.

usage: SLURM_CONF=/dev/null python bench/signature_calls.py [--objects 100]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from pathlib import Path

import snakemake.common as smc

sys.path.insert(0, str(Path(__file__).parent))
from dag_scale import REPO, write_plan  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=100)
    a = ap.parse_args()
    counts: collections.Counter = collections.Counter()
    original = smc.get_function_params

    def counting(func):
        if not hasattr(func, smc.FUNC_OVERWRITE_PARAMS_ATTR):
            counts[f"{getattr(func, '__module__', None)}:{getattr(func, '__qualname__', repr(func))}"] += 1
        return original(func)

    # get_input_function_aux_params (every input/params/resource call) looks the name up in
    # its own module at each call, so replacing it there sees every call
    smc.get_function_params = counting
    from snakemake.cli import main as snakemake_main

    with tempfile.TemporaryDirectory() as tmp:
        cfg = write_plan(Path(tmp), a.objects, 3, 20, 300, 2000, bands=("H158",))
        sys.argv = ["snakemake", "--snakefile", str(REPO / "Snakefile"), "-d", tmp, "--configfile", str(cfg),
                    "-n", "--quiet", "all"]
        try:
            snakemake_main()
        except SystemExit as exc:
            if exc.code:
                raise
    print("| inspected callable | calls |\n|---|---|")
    for name, n in counts.most_common():
        print(f"| `{name}` | {n} |")


if __name__ == "__main__":
    main()
