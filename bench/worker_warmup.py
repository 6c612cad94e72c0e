"""What the worker's warm bandpass cache saves a forked `prepare` job (romandia.worker).

Runs the `prepare` step of one demo image in forked children, as the worker does, three times
with galsim's Roman bandpasses not yet loaded in the parent ("cold": each child thins them
itself) and three times after the parent loaded them ("warm": what the worker does while idle).

usage (from the repo root, after `make demo` made data/demo):
    python bench/worker_warmup.py
"""

import glob
import os
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def main():
    from snakemake.utils import validate

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    images = sorted(glob.glob(str(REPO / "data" / "demo" / "images" / "simple_model" / "*" / "*" / "*.fits.gz")))
    if not images:
        sys.exit("no demo images: run `make demo` first")
    import romandia.simulate.psf as spsf
    from romandia.steps.prepare import prepare_image

    objects = [[o["oid"], o["ra"], o["dec"]] for o in cfg["objects"]]
    band = Path(images[0]).parts[-3]
    for mode in ("cold", "warm"):
        if mode == "warm":
            spsf.bandpasses()
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                t = time.perf_counter()
                out = prepare_image(images[0], image="bench", band=band, objects=objects,
                                    cutout_size=cfg["cutout_size"], sky_cfg=cfg["sky"], variance=cfg["variance"],
                                    psf_cfg=cfg["psf"], dq_ignore=cfg["dq"]["ignore"])
                print(f"{mode}: prepare {time.perf_counter() - t:.2f} s, of which psf {out.seconds['psf']:.2f} s",
                      flush=True)
                os._exit(0)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
