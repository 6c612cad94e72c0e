"""``romandia`` command line.

Subcommands are registered in :data:`SUBCOMMANDS` (name -> builder); a builder adds its
sub-parser and sets ``func`` (called with the parsed namespace, returns an exit code).  Bad user
input (:class:`~romandia.errors.InputError`) prints one line ``romandia <cmd>: error: ...`` on
stderr and exits with status 2, without a traceback.

Examples::

    romandia simulate --preset demo --out data/demo
    romandia simulate --preset my.yaml --out /tmp/x --seed 3 --config overrides.yaml
    romandia validate --out results/validation --phrosty --report docs/validation.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from romandia.errors import InputError


def _run_simulate(args: argparse.Namespace) -> int:
    from romandia.simulate import simulate
    from romandia.simulate.config import load_yaml_mapping

    overrides = load_yaml_mapping(args.config, "config file") if args.config else None
    if args.format:
        fmts = {"fits": ["fits"], "asdf": ["asdf"], "both": ["fits", "asdf"]}[args.format]
        overrides = {**(overrides or {}), "image": {**(overrides or {}).get("image", {}), "formats": fmts}}
    progress = None if args.quiet else (lambda line: print(line, flush=True))
    s = simulate(args.preset, args.out, seed=args.seed, config_overrides=overrides,
                 progress=progress)
    n_obj = len(s["objects"])
    print(f"romandia simulate: preset {s['preset']!r} seed {s['seed']}: {s['n_images']} images "
          f"({s['size']}^2, {', '.join(s['bands'])}), {len(s['transients'])} transients, "
          f"{n_obj} object lists -> {s['out_dir']} in {s['timing']['total']:.1f} s", flush=True)
    return 0


def _build_simulate(sub) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate Roman WFI images in the OpenUniverse 2024 layout",
        description="Simulate OU2024-layout Roman images, truth catalogues, SNANA truth, "
                    "phrosty image lists, objects.yaml and manifest.json into --out.",
    )
    p.add_argument("--preset", required=True, metavar="NAME|FILE",
                   help="packaged preset (demo, test, validation, benchmark) or a YAML file")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, default=None, metavar="N",
                   help="random seed (default: the preset's)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="YAML file of overrides deep-merged onto the preset")
    p.add_argument("--format", choices=("fits", "asdf", "both"), default=None,
                   help="images as OU2024 FITS (.fits.gz, lists/), Roman L2 ASDF (.asdf, "
                        "lists_asdf/) or both (default: the preset's image.formats, fits)")
    p.add_argument("--quiet", action="store_true", help="no per-image progress lines")
    p.set_defaults(func=_run_simulate)


def _run_validate(args: argparse.Namespace) -> int:
    from romandia.validation import PHROSTY_CONFIG, run_validation

    overrides = {"sne": {"n_sne": args.n_sne}} if args.n_sne else None
    configs = {"romandia": {}}
    if args.phrosty:
        configs["phrosty"] = PHROSTY_CONFIG
    if args.asdf:
        from romandia.validation import INPUT_FORMAT

        configs["asdf"] = {INPUT_FORMAT: "asdf"}
    if args.chromatic:
        configs["power-law SED"] = {"chromatic": {"sed": "power_law"}}
        configs["no chromatic correction"] = {"chromatic": {"enabled": False}}
    configs.update(_variants(args.also))
    res = run_validation(args.out, preset=args.preset, config_overrides=overrides, configs=configs,
                         cores=args.cores, report=args.report, plot_dir=args.plots,
                         field_stars=not args.no_field_stars, max_zp_images=args.max_zp_images,
                         seed=args.seed, command="romandia " + " ".join(sys.argv[1:]),
                         cases=_cases(args.mismatch), reuse=args.reuse, chromatic=args.chromatic)
    bad = res["romandia"]["summary"]["n_failed"]  # failed rows with romandia's defaults
    return 0 if bad == 0 or args.allow_failures else 1


def _variants(specs) -> dict:
    """``--also NAME=FILE``: workflow config overrides (YAML) run on the same data."""
    import yaml

    out = {}
    for spec in specs or []:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"romandia validate: --also {spec!r}: expected NAME=FILE (a YAML of config overrides)")
        try:
            over = yaml.safe_load(open(path)) or {}
        except OSError as exc:
            raise SystemExit(f"romandia validate: --also {spec!r}: cannot read {path}: {exc.strerror}") from None
        if not isinstance(over, dict):
            raise SystemExit(f"romandia validate: --also {spec!r}: {path} must hold a mapping of config keys")
        out[name] = over
    return out


def _cases(value: str | None) -> list[str]:
    from romandia.mismatch import CASES

    if not value:
        return []
    names = list(CASES) if value == "all" else [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in CASES]
    if bad:
        raise SystemExit(f"romandia validate: --mismatch: unknown case(s) {bad}; choose from all, "
                         + ", ".join(CASES))
    return names


def _build_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="photometric accuracy against truth (simulate, run the workflow, report)",
        description="Simulate the validation preset, run the workflow on it (romandia's "
                    "defaults and, with --phrosty, phrosty's configuration), compare every "
                    "flux with the truth and regenerate the report (docs/validation.md).",
    )
    p.add_argument("--out", default="results/validation", metavar="DIR",
                   help="working directory (simulated data are reused when present)")
    p.add_argument("--preset", default="validation", metavar="NAME|FILE")
    p.add_argument("--n-sne", type=int, default=None, metavar="N", help="number of SNe")
    p.add_argument("--seed", type=int, default=None, metavar="N")
    p.add_argument("--phrosty", action="store_true",
                   help="also run phrosty's configuration on the same data")
    p.add_argument("--asdf", action="store_true",
                   help="also run romandia's defaults on the same scenes written as Roman L2 ASDF "
                        "(configuration 'asdf'; the data are simulated in both formats)")
    p.add_argument("--also", action="append", metavar="NAME=FILE",
                   help="also run the workflow with the config overrides in FILE (YAML) on the same "
                        "data, reported as NAME (repeatable; e.g. sky_photutils=config/variants/sky_photutils.yaml)")
    p.add_argument("--chromatic", action="store_true",
                   help="also run with the power-law SED estimate only (configuration 'power-law SED') "
                        "and without the chromatic correction ('no chromatic correction'), and report bias by band, SN phase, colour, redshift and host, and "
                        "the pre-explosion epochs (romandia.validation.chromatic; e.g. --preset validation_sed)")
    p.add_argument("--report", default=None, metavar="FILE", help="e.g. docs/validation.md")
    p.add_argument("--plots", default=None, metavar="DIR", help="default: next to the report")
    p.add_argument("--mismatch", default=None, metavar="all|CASE,...",
                   help="also run PSF-model mismatch cases on the same data (romandia.mismatch): "
                        "no_charge_diffusion, sed_blackbody3500, width_plus5, width_minus5, "
                        "mirrored_pupil, or all")
    p.add_argument("--reuse", action="store_true",
                   help="analyse workflow directories that already hold lightcurves as they are "
                        "(no Snakemake run; e.g. the matched run when adding a mismatch case)")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--no-field-stars", action="store_true", help="skip field-star zeropoints")
    p.add_argument("--max-zp-images", type=int, default=None, metavar="N")
    p.add_argument("--allow-failures", action="store_true",
                   help="exit 0 even when rows failed with romandia's defaults")
    p.set_defaults(func=_run_validate)


def _build_run(sub) -> None:
    # parsed by romandia.frontdoor (phrosty's flags, and Snakemake's after --); listed here for --help
    sub.add_parser("run", add_help=False,
                   help="run the workflow with phrosty's flags (romandia run --help; --explain maps each flag)")


#: name -> function(subparsers) that adds the subcommand's parser and sets ``func``.
SUBCOMMANDS: dict[str, Callable] = {
    "run": _build_run,
    "simulate": _build_simulate,
    "validate": _build_validate,
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered subcommand."""
    import romandia

    parser = argparse.ArgumentParser(
        prog="romandia", description="Roman SN difference-imaging photometry tools.")
    parser.add_argument("--version", action="version", version=f"romandia {romandia.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for build in SUBCOMMANDS.values():
        build(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``romandia`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"]:
        from romandia import frontdoor

        try:
            return frontdoor.main(argv[1:])
        except InputError as exc:
            print(f"romandia run: error: {exc}", file=sys.stderr)
            return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"romandia {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
