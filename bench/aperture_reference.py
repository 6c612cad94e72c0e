"""How wrong the aperture reference of the field-star calibration is when the PSF model is.

The ``aperture`` reference (``romandia.calibration.aperture_total_flux``) corrects a star's
aperture flux to total with the *model's* encircled energy (aperture minus the background
annulus, both on the model).  A model whose width is off gets that correction wrong, and the
SN inherits the error after calibration.  This prints, for OU2024's effective PSF (the data)
and the same PSF dilated by ``1 ± --width`` (the model), ``EE_model / EE_data - 1`` for several
apertures and annuli, and the noiseless 5×5 PSF-fit ratio the calibration has to remove.
A catalogue reference has no such term.  Not a test; run it by hand::

    .venv/bin/python bench/aperture_reference.py [--bands H158 R062] [--width 0.05]

Assumptions: SCA 7 at its centre, a rotated 0.11" pixel, flat SED, the star centred on a
pixel (the sub-pixel phase moves these numbers by < 0.05 %).
"""

from __future__ import annotations

import argparse

import galsim
import numpy as np

from romandia.calibration import _aperture_sums
from romandia.simulate.psf import PSFModel, roman_psf_stamp

JAC = galsim.JacobianWCS(0.0951, 0.0552, -0.0549, 0.0948)
APERTURES = [(3, (12, 17)), (6, (12, 17)), (6, (20, 25)), (10, (20, 25)), (15, (22, 28)), (20, (25, 29))]
HALF = 30


def encircled(stamp: np.ndarray, radius: float, annulus) -> float:
    """Aperture sum minus annulus mean × aperture area, on a unit-flux stamp."""
    ps, pb, area, _ = _aperture_sums(stamp, HALF, HALF, radius, annulus)
    return ps - pb * area


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bands", nargs="+", default=["H158", "R062"])
    ap.add_argument("--width", type=float, default=0.05, help="fractional width error of the model")
    args = ap.parse_args(argv)
    scales = (1.0 - args.width, 1.0 + args.width)
    print(f"| band | aperture [px] | annulus [px] | EE of the data | EE model/data − 1, model {scales[0]:g}× "
          f"| EE model/data − 1, model {scales[1]:g}× |")
    print("|---|---|---|---|---|---|")
    fits = []
    for band in args.bands:
        st = {s: roman_psf_stamp(band, 7, 2043.5, 2043.5, JAC, size=2 * HALF + 1, oversample=None,
                                 model=PSFModel(width_scale=s)) for s in (1.0, *scales)}
        for r, an in APERTURES:
            ee = {s: encircled(a, r, an) for s, a in st.items()}
            print(f"| {band} | {r} | {an[0]}–{an[1]} | {ee[1.0]:.4f} | {100 * (ee[scales[0]] / ee[1.0] - 1):+.2f} % "
                  f"| {100 * (ee[scales[1]] / ee[1.0] - 1):+.2f} % |")
        c = slice(HALF - 2, HALF + 3)
        d = st[1.0][c, c]
        fits.append((band, *[float((d * st[s][c, c]).sum() / (st[s][c, c] ** 2).sum()) for s in scales]))
    print("\nnoiseless 5×5 PSF-fit flux / true flux (what the calibration removes):")
    for band, lo, hi in fits:
        print(f"  {band}: model {scales[0]:g}× {lo:.4f}, model {scales[1]:g}× {hi:.4f}")


if __name__ == "__main__":
    main()
