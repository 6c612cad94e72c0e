"""The template PSF in the science frame (``template_psf: resampled``): the PSF of the
*resampled* template at the object, interpolation blur included, against the image path."""

import numpy as np
import pytest

from romandia import resample
from romandia.psf import gaussian_stamp

SIGMA = 0.55  # px: an undersampled PSF (Roman's H158 core is ~0.6 px)


def _mapping(theta_deg=37.0, scale=1.0):
    t = np.radians(theta_deg)
    return scale * np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


@pytest.mark.parametrize("phase", [(0.5, 0.5), (0.3, -0.2), (0.0, 0.0)])
def test_resampled_template_psf_is_the_resampled_image_of_a_point_source(phase):
    """A point source at template position q, resampled with Lanczos-3 onto a rotated science
    grid: around the science pixel p that maps to q, the image equals rotate_psf of the PSF
    drawn at q's phase (offset) with the same interpolant, and differs from the PSF rotated
    from its centred stamp with a cubic B-spline (the blur the resampling adds)."""
    n = 41
    c = n // 2
    m = _mapping()  # science offsets -> template offsets (J_t^-1 J_s)
    big = 121
    cb = big // 2
    q = np.array([cb + phase[0], cb + phase[1]])
    tmpl = gaussian_stamp(SIGMA, big, dx=phase[0], dy=phase[1])  # the source at q
    g = np.arange(n, dtype=float) - c
    dx, dy = np.meshgrid(g, g)
    xs = q[0] + m[0, 0] * dx + m[0, 1] * dy  # science stamp pixel (c + d) -> template coords
    ys = q[1] + m[1, 0] * dx + m[1, 1] * dy
    image = resample.resample_image_set(tmpl, xs, ys, kernel="lanczos3")["image"]
    jt, js = np.eye(2), m  # rotate_psf takes the two Jacobians; only J_t^-1 J_s matters
    at_phase = gaussian_stamp(SIGMA, n, dx=phase[0], dy=phase[1])
    resampled = resample.rotate_psf(at_phase, jt, js, kernel="lanczos3", offset=phase)
    rotated = resample.rotate_psf(gaussian_stamp(SIGMA, n), jt, js)
    core = (slice(c - 3, c + 4),) * 2
    err_new = np.abs(resampled[core] - image[core]).max() / image.max()
    err_old = np.abs(rotated[core] - image[core]).max() / image.max()
    assert err_new < 1e-6
    if phase != (0.0, 0.0):
        assert err_old > 0.02  # the interpolation blur the rotated stamp lacks
    # the resampled point source is blurred: its peak is below the exact PSF's in that frame
    exact = gaussian_stamp(SIGMA, n)
    assert image.max() < exact.max()
