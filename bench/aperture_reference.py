"""How wrong the aperture reference of the field-star calibration is when the PSF model is.

The ``aperture`` reference (``romandia.calibration.aperture_total_flux``) corrects a star's
aperture flux to total with the *model's* encircled energy (aperture minus the background
annulus, both on the model).  A model whose width is off gets that correction wrong, and the
SN inherits the error after calibration.  This prints, for OU2024's effective PSF (the data)
and three wrong models — the same PSF dilated by ``1 ± --width`` and the PSF without charge
diffusion — ``EE_model / EE_data - 1`` for several apertures and annuli, and the noiseless 5×5
PSF-fit ratio the calibration has to remove.
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


def stamp(band: str, model: PSFModel) -> np.ndarray:
    """The model's effective PSF at the centre of SCA 7, drawn directly (unit total flux)."""
    return roman_psf_stamp(band, 7, 2043.5, 2043.5, JAC, size=2 * HALF + 1, oversample=None, model=model)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bands", nargs="+", default=["H158", "R062"])
    ap.add_argument("--width", type=float, default=0.05, help="fractional width error of the model")
    args = ap.parse_args(argv)
    models = {f"{1 - args.width:g}× wide": PSFModel(width_scale=1.0 - args.width),
              f"{1 + args.width:g}× wide": PSFModel(width_scale=1.0 + args.width),
              "no charge diffusion": PSFModel(charge_diffusion=False)}
    print("| band | aperture [px] | annulus [px] | EE of the data | "
          + " | ".join(f"EE model/data − 1, {m}" for m in models) + " |")
    print("|---|---|---|---|" + "---|" * len(models))
    fits = []
    for band in args.bands:
        data = stamp(band, PSFModel())
        st = {m: stamp(band, model) for m, model in models.items()}
        for r, an in APERTURES:
            ee = encircled(data, r, an)
            print(f"| {band} | {r} | {an[0]}–{an[1]} | {ee:.4f} | "
                  + " | ".join(f"{100 * (encircled(a, r, an) / ee - 1):+.2f} %" for a in st.values()) + " |")
        c = slice(HALF - 2, HALF + 3)
        d = data[c, c]
        fits.append((band, {m: float((d * a[c, c]).sum() / (a[c, c] ** 2).sum()) for m, a in st.items()}))
    print("\nnoiseless 5×5 PSF-fit flux / true flux (what the calibration removes):")
    for band, f in fits:
        print(f"  {band}: " + ", ".join(f"{m} {v:.4f}" for m, v in f.items()))


if __name__ == "__main__":
    main()
