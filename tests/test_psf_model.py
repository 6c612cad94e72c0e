"""OU2024's effective PSF (romandia.simulate.psf, the workflow's galsim provider) against
renderings written here independently from galsim and roman_imsim's published constants.

OU2024 (tds.yaml) drew objects with ``roman_psf`` at ``n_waves: 5`` and roman_imsim's
``ChargeDiff`` photon operator, which moves every photon by a draw from three Gaussians
(weights 0.17519, 0.53146, 0.29335; sigmas 0.4522, 0.8050, 1.4329 x 0.3279 px).
"""

import time

import galsim
import galsim.roman as groman
import numpy as np
import pytest
from _roman import CHARGE_DIFF_SIGMAS as SIG
from _roman import CHARGE_DIFF_WEIGHTS as W
from _roman import ou2024_point_source
from astropy.io import fits

from romandia import psf as P
from romandia.simulate import psf as S

JAC = galsim.JacobianWCS(0.0951, 0.0552, -0.0549, 0.0948)  # rotated, slightly distorted pixel


def _header(band="H158", sca=7):
    """A TAN header whose local Jacobian is JAC at the reference pixel (SCA 1000, 2000)."""
    h = fits.Header()
    h["FILTER"], h["SCA_NUM"] = band, sca
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = 7.6, -44.4
    h["CRPIX1"], h["CRPIX2"] = 101.0, 101.0
    m = JAC.getMatrix() / 3600.0
    h["CD1_1"], h["CD1_2"], h["CD2_1"], h["CD2_2"] = -m[0, 0], -m[0, 1], m[1, 0], m[1, 1]
    h["ROMX0"], h["ROMY0"] = 899, 1899  # pixel (100, 100) of the file is SCA (1000, 2000), 1-based
    return h


def _independent(band, sca, x_sca, y_sca, local, size=41):
    """Direct render at 1-based SCA (x_sca, y_sca), the stamp's central pixel at the nearest
    integer position (tests/_roman.py: written without romandia)."""
    pos = galsim.PositionD(x_sca, y_sca)
    return ou2024_point_source(band, sca, pos, local, 1.0, size, size, pos).array


@pytest.mark.parametrize("band", ["R062", "H158"])
def test_provider_matches_direct_ou2024_rendering(band):
    hdr = _header(band)
    local = galsim.GSFitsWCS(header=dict(hdr)).shiftOrigin(galsim.PositionD(899, 1899)).local(
        galsim.PositionD(1000.0, 2000.0))
    ref = _independent(band, 7, 1000.0, 2000.0, local)
    got = P.psf_stamp("galsim", {"size": 41}, hdr, 100.0, 100.0)
    assert np.abs(got - ref).max() < 1e-3 * ref.max()
    assert got.sum() == pytest.approx(ref.sum(), rel=5e-4)
    # at a sub-pixel position: drawn there, not interpolated
    ref_off = _independent(band, 7, 1000.3, 1999.8, local)
    got_off = P.psf_stamp("galsim", {"size": 41}, hdr, 100.3, 99.8, at_position=True)
    assert np.abs(got_off - ref_off).max() < 1e-3 * ref_off.max()


def test_charge_diffusion_profile_equals_roman_imsim_photon_operator():
    """Shooting photons and moving each one as ChargeDiff does == convolving with the kernel."""

    class ChargeDiffOp(galsim.PhotonOp):
        def applyTo(self, photon_array, local_wcs=None, rng=None):
            ud = galsim.UniformDeviate(rng)
            u = np.empty(photon_array.size())
            ud.generate(u)
            comp = np.searchsorted(np.cumsum(W), u * sum(W))
            g = galsim.GaussianDeviate(rng)
            dx, dy = np.empty(photon_array.size()), np.empty(photon_array.size())
            g.generate(dx)
            g.generate(dy)
            s = np.asarray(SIG)[comp]
            photon_array.x += dx * s
            photon_array.y += dy * s

    optics = groman.getPSF(7, "H158", SCA_pos=galsim.PositionD(1000, 2000), pupil_bin=8,
                           wcs=JAC, wavelength=groman.getBandpasses()["H158"])
    n = 4_000_000
    shot = optics.drawImage(nx=25, ny=25, wcs=JAC, method="phot", n_photons=n, poisson_flux=False,
                            photon_ops=[ChargeDiffOp()], rng=galsim.BaseDeviate(3)).array
    prof = galsim.Convolve(optics, JAC.toWorld(S.charge_diffusion_kernel()))
    fft = prof.drawImage(nx=25, ny=25, wcs=JAC, method="auto").array
    noise = np.sqrt(np.maximum(fft, 1e-12) / n)
    assert np.max(np.abs(shot - fft) / np.maximum(noise, 1e-6)) < 6  # < 6 sigma per pixel
    assert np.abs(shot - fft).max() < 5e-3 * fft.max()
    # and without charge diffusion the peak is ~20 % higher: the effect is not small
    bare = galsim.Convolve(optics).drawImage(nx=25, ny=25, wcs=JAC, method="auto").array
    assert bare.max() / fft.max() > 1.1


def test_model_switches_change_the_psf_and_bad_values_name_the_key():
    hdr = _header("H158")
    base = P.psf_stamp("galsim", {"size": 41}, hdr, 100.0, 100.0)
    for params, lo in (({"charge_diffusion": False}, 0.05), ({"width_scale": 1.05}, 0.01),
                       ({"mirror": True}, 0.01), ({"n_waves": None}, 1e-3),
                       ({"sed": "blackbody:3500"}, 1e-3)):
        other = P.psf_stamp("galsim", dict(params, size=41), hdr, 100.0, 100.0)
        assert np.abs(other - base).max() > lo * base.max(), params
    # mirroring about the SCA y axis: twice is the identity
    m = S.PSFModel(mirror=True)
    assert S.PSFModel.from_params({"mirror": True}) == m
    with pytest.raises(ValueError, match="psf.params: unknown sed 'sunny'"):
        S.PSFModel.from_params({"sed": "sunny"})
    with pytest.raises(ValueError, match="psf.params: width_scale"):
        S.PSFModel.from_params({"width_scale": 7})


def test_interpolated_psf_is_cached_per_position():
    hdr = _header("R062")
    S._cached_ii.cache_clear()
    t0 = time.perf_counter()
    P.psf_stamp("galsim", {"size": 41}, hdr, 50.0, 60.0)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    P.psf_stamp("galsim", {"size": 41}, hdr, 50.2, 60.1, at_position=True)
    second = time.perf_counter() - t0
    info = S._cached_ii.cache_info()
    assert info.misses == 2 and info.hits == 0  # a different position is a different PSF
    P.psf_stamp("galsim", {"size": 41}, hdr, 50.0, 60.0, at_position=True)
    assert S._cached_ii.cache_info().hits == 1
    assert first > 0 and second > 0
