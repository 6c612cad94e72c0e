"""Cost of the galsim PSF provider (OU2024's effective PSF) per image position.

For each band, at 5 positions of SCA 7 with a rotated pixel: the chromatic optics
(``getPSF(n_waves=5)``, a lazy object), the 6x oversampled interpolated effective PSF built from
them (what the provider caches per position; the optics are evaluated here), a 41-px stamp from the cache, the same stamp drawn directly,
and the old monochromatic undiffused stamp; plus how far the cached stamp is from the direct
draw.  Not a test; run it by hand on a quiet machine::

    .venv/bin/python bench/psf_bench.py [--bands R062 H158]
"""

from __future__ import annotations

import argparse
import time

import galsim
import galsim.roman as groman
import numpy as np

from romandia.simulate import psf as S

JAC = galsim.JacobianWCS(0.0951, 0.0552, -0.0549, 0.0948)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bands", nargs="+", default=["R062", "H158"])
    args = ap.parse_args(argv)
    S.bandpasses()
    m = S.PSFModel()
    print("| band | getPSF(n_waves=5) call [s] | cached PSF built (optics evaluated, 6x) [s] | stamp from cache [ms] | "
          "direct 41-px stamp [s] | old mono stamp [s] | max |cached − direct| / peak |")
    print("|---|---|---|---|---|---|---|")
    for band in args.bands:
        rows = []
        for k, (x, y) in enumerate([(500, 500), (2000, 2000), (3500, 800), (900, 3300), (2044, 3900)]):
            pos = galsim.PositionD(x + 0.37 * k, y + 0.21 * k)
            t0 = time.perf_counter()
            groman.getPSF(7, band, SCA_pos=pos, pupil_bin=8, wcs=JAC, n_waves=5)
            t1 = time.perf_counter()
            S.effective_interpolated_image(band, 7, pos, JAC, m, 6)
            t2 = time.perf_counter()
            a = S.roman_psf_stamp(band, 7, pos.x - 1, pos.y - 1, JAC, size=41)
            t3 = time.perf_counter()
            b = S.roman_psf_stamp(band, 7, pos.x - 1, pos.y - 1, JAC, size=41, oversample=None)
            t4 = time.perf_counter()
            S.roman_psf_stamp(band, 7, pos.x - 1, pos.y - 1, JAC, size=41, oversample=None,
                              model=S.LEGACY_MODEL)
            t5 = time.perf_counter()
            # getPSF returns a lazy chromatic object: the optics are computed when the cached
            # interpolated PSF is first drawn, so that column holds the bulk of the cost
            rows.append((t1 - t0, t2 - t1, 1000 * (t3 - t2), t4 - t3, t5 - t4,
                         np.abs(a - b).max() / b.max()))
        r = np.median(np.array(rows), axis=0)
        print(f"| {band} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.1e} |")


if __name__ == "__main__":
    main()
