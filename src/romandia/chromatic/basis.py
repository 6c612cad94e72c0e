"""The chromatic PSF's per-wavelength basis at an object: ``P_k`` = optics at ``λ_k`` ⊗ charge
diffusion ⊗ pixel, for the galsim provider's model (:mod:`romandia.simulate.psf`).

A source of any SED has the effective PSF ``Σ_k w_k P_k`` (:func:`romandia.chromatic.seds.
band_weights`), so the ``n_waves`` basis images at an object let the photometry compute what
the PSF fit returns for a source of another SED than the model's (:mod:`.response`), at the
object and at every field star near it, without drawing a new chromatic PSF per SED.

The basis is stored like the model's own ``PSFIMG`` member (:class:`romandia.psf.ModelImage`):
each ``P_k`` drawn ``oversample`` times oversampled in the same ``box_arcsec`` box, flux = the
fraction inside the box, with galsim's ``maxk``/``stepk``.  A stamp at any sub-pixel phase is
then drawn from it with :func:`romandia.psf.psf_stamp` (``model_image=``) exactly as the
model's stamps are.  Made only for science images with the chromatic correction on; the
optics (``getPSF`` with ``n_waves``, ~0.3 s) are built again here, the five images then take
~25 ms each (:func:`make_basis`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.io import fits

from .. import products
from .. import psf as psf_providers

__all__ = ["ChromaBasis", "make_basis", "basis_data", "read_basis", "basis_stamps", "CHROMA_HDU"]

#: Member HDU of a prepare product holding the basis (3-D, ``[k, y, x]``).
CHROMA_HDU = products.CHROMA_HDU
#: Header keys: number of wavelengths, and per wavelength (suffix k) λ [nm], maxk, stepk.
KEY_NWAVE, KEY_WAVE, KEY_MAXK, KEY_STEPK = "CHRNWAV", "CHRWAV", "CHRMAXK", "CHRSTPK"


@dataclass(frozen=True)
class ChromaBasis:
    """The per-wavelength PSFs at one position of an image, as model images.

    Attributes
    ----------
    waves : ndarray
        ``λ_k`` [nm].
    images : tuple of romandia.psf.ModelImage
        ``P_k``, oversampled (same ``model`` key as the provider's model image, so
        :func:`romandia.psf.psf_stamp` draws from them).
    """

    waves: np.ndarray
    images: tuple

    @property
    def x(self) -> float:
        return self.images[0].x

    @property
    def y(self) -> float:
        return self.images[0].y


def make_basis(params: dict, header, x: float, y: float) -> ChromaBasis | None:
    """The basis of the galsim provider with ``params`` (config ``psf.params``) at the 0-based
    position (x, y) of the image with ``header``; None for a monochromatic or non-oversampled
    model (nothing to correct / no model image to draw from).

    Raises
    ------
    romandia.errors.DataError
        ``psf``: galsim failed at the position.
    """
    import galsim

    from ..errors import DataError
    from ..simulate import psf as sp
    from .seds import band_waves

    model, oversample, key = psf_providers._galsim_model(params)
    if key is None or not model.chromatic:
        return None
    band, sca = str(header["FILTER"]).strip(), int(header["SCA_NUM"])
    try:
        wcs, pos = sp._as_sca_wcs(header, x, y, None)
        # the model's own optics (with its perturbations) and detector kernel
        optics, detector = sp.optics_and_detector(band, sca, pos, wcs, model)
        waves = band_waves(band, int(model.n_waves))  # getPSF's nodes
        scale = sp.PIXEL_SCALE / int(oversample)
        n = int(round(sp.DEFAULT_BOX_ARCSEC / scale))
        n += n % 2
        cap = sp._optical_maxk(band, model)
        images = []
        for w in waves:
            o = optics.evaluateAtWavelength(float(w))
            # galsim's stored optics image spans ~23" (its stepk), which sets the FFT of a
            # convolution with it (0.6-1.3 s per wavelength in H158); sampled first in the
            # model's box and convolved from there it takes ~25 ms and differs by < 1e-4 of
            # the peak (6e-5 measured in H158, SCA 7), only in the outermost ring
            optics_box = galsim.InterpolatedImage(o.drawImage(nx=n, ny=n, scale=scale, method="no_pixel"),
                                                  x_interpolant="quintic", normalization="flux", pad_factor=2)
            im = galsim.Convolve(optics_box, detector).drawImage(nx=n, ny=n, scale=scale, method="no_pixel")
            ii = galsim.InterpolatedImage(im, x_interpolant="quintic", normalization="flux", pad_factor=2)
            maxk = min(float(ii.maxk), cap)  # as the model image (romandia.simulate.psf._cached_ii)
            images.append(psf_providers.ModelImage(array=np.asarray(im.array, dtype=np.float32), x=float(x),
                                                   y=float(y), oversample=int(oversample), maxk=maxk,
                                                   stepk=float(ii.stepk), model=key))
    except Exception as exc:  # noqa: BLE001 - galsim's errors are many; the row records it
        raise DataError("psf", f"chromatic PSF basis failed at ({x:.1f}, {y:.1f}): {exc}") from None
    return ChromaBasis(waves=waves, images=tuple(images))


def basis_data(basis: ChromaBasis) -> tuple[np.ndarray, fits.Header]:
    """``(array [k, y, x], header)`` of the ``CHROMA`` member that stores a basis."""
    hdr = fits.Header()
    first = basis.images[0]
    hdr[products.KEY_PSFX] = (first.x, "0-based x where the basis was evaluated")
    hdr[products.KEY_PSFY] = (first.y, "0-based y where the basis was evaluated")
    hdr[products.KEY_OVERSAMP] = (first.oversample, "oversampling of the images")
    hdr[products.KEY_PSFMODEL] = first.model
    hdr[KEY_NWAVE] = (len(basis.waves), "wavelengths of the chromatic PSF")
    for k, (w, im) in enumerate(zip(basis.waves, basis.images, strict=True)):
        hdr[f"{KEY_WAVE}{k}"] = (float(w), f"[nm] wavelength of plane {k}")
        hdr[f"{KEY_MAXK}{k}"] = (im.maxk, "galsim maxk [1/arcsec]")
        hdr[f"{KEY_STEPK}{k}"] = (im.stepk, "galsim stepk [1/arcsec]")
    return np.stack([im.array for im in basis.images]), hdr


def read_basis(data: np.ndarray, header) -> ChromaBasis:
    """The :class:`ChromaBasis` of a ``CHROMA`` member (:func:`basis_data`)."""
    n = int(header[KEY_NWAVE])
    data = np.asarray(data)
    if data.ndim != 3 or data.shape[0] != n:
        raise ValueError(f"a CHROMA member holds {n} planes, got shape {data.shape}")
    x, y = float(header[products.KEY_PSFX]), float(header[products.KEY_PSFY])
    images = tuple(psf_providers.ModelImage(array=data[k], x=x, y=y, oversample=int(header[products.KEY_OVERSAMP]),
                                            maxk=float(header[f"{KEY_MAXK}{k}"]),
                                            stepk=float(header[f"{KEY_STEPK}{k}"]),
                                            model=str(header[products.KEY_PSFMODEL]))
                   for k in range(n))
    return ChromaBasis(waves=np.array([float(header[f"{KEY_WAVE}{k}"]) for k in range(n)]), images=images)


def basis_stamps(basis: ChromaBasis, params: dict, header, x: float, y: float) -> np.ndarray:
    """``P_k`` stamps ``[k, y, x]`` drawn at the sub-pixel phase of (x, y) (unit total flux
    each), as :func:`romandia.psf.psf_stamp` draws the model's ``ATPOS`` stamps; the model
    (aberrations, local WCS) is the one at the basis' position."""
    return np.stack([psf_providers.psf_stamp("galsim", params, header, x, y, at_position=True, model_image=im)
                     for im in basis.images])
