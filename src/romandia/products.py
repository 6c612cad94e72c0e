"""File contracts of the workflow's intermediate products, declared once.

Every file a rule writes for another rule is described here: its path pattern under
``dia_out_dir``, its HDU names and the header keys other steps read.  The rule scripts and
the library read and write these files only through this module.

========================  =====================  ===============================================
product (rule, key)       path                   contents
========================  =====================  ===============================================
prepared (prepare,        ``prepare/{image}``    shared: ``SKYSUB``, ``VAR``, ``DETMASK``, ``SKY``,
image)                                           ``DQ`` of the input image cut out around the
                                                 objects (DQ-masked pixels NaN); header
                                                 ``ROMSRC``, ``ROMSHA``, ``ROMX0``/``ROMY0``,
                                                 ``SKYRMS``, ``SKYMED``, ``NSOURCES``,
                                                 ``NDETMASK``, ``VARMODE``, ``DQMASK``,
                                                 ``NDQMASK``; per object (member = oid): ``PSF``
                                                 (centred, for convolutions), ``ATPOS`` (at the
                                                 object's sub-pixel position); ``PSFX``, ``PSFY``;
                                                 galsim provider: ``PSFIMG`` (the oversampled
                                                 model image at the object, ``OVERSAMP``,
                                                 ``PSFMAXK``, ``PSFSTEPK``, ``PSFMODEL``)
difference (subtract,     ``subtract/{science}`` shared: ``SCI``, ``SCIVAR``, ``SCIDQ``; per template:
science)                                         ``DIFF``, ``VAR``, ``PSF``, ``ZPTIMG``,
                                                 ``DECORR``, ``MATCH``, ``KSCI``, ``KTMPL`` and,
                                                 from the aligned template (in memory, never a
                                                 file: :data:`ALIGNED_HDUS`), ``TMPL``,
                                                 ``PSFT``, ``TMPLVAR0``: the one input
                                                 photometry needs besides the PSFs;
                                                 table ``INPUTS``: the SHA-256 of the science
                                                 image and of each template (provenance)
photometry (photometry,   ``phot/{science}``     JSON: every (object, template) row, the
science)                                         field-star calibration of each template and
                                                 the input images' SHA-256 (``checksums``)
stamps (photometry,       ``stamps/{science}``   per (object, template): ``SCI``, ``TEMPLATE``,
science)                                         ``DIFF``, ``VAR``, ``SCIVAR``, ``TMPLVAR0``
========================  =====================  ===============================================

Members
-------
A *batch* file holds one member per object or template: HDU ``{NAME}.{member}``.  A member
whose step met a :class:`~romandia.errors.DataError` is a header-only HDU
``FAILED.{member}`` with ``ROMSTAGE``/``ROMREASN``; the other members are unaffected, so a
bad pair costs only its own rows.  A file whose whole input failed is a failure marker
(:func:`romandia.io.write_failure`), which every member read raises.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import numpy as np
from astropy.io import fits

from .errors import DataError
from .io import image_hdu, read_failure, write_fits

# --------------------------------------------------------------------------- paths
#: product -> path under dia_out_dir ({key}: image key)
PATHS = {
    "prepared": "prepare/{key}.fits",
    "difference": "subtract/{key}.fits",
    "photometry": "phot/{key}.json",
    "stamps": "stamps/{key}.fits",
}

# --------------------------------------------------------------------------- HDU names
SKY_HDUS = ("SKYSUB", "VAR", "DETMASK", "SKY", "DQ")
PSF_HDUS = ("PSF", "ATPOS")
PSF_MODEL_HDU = "PSFIMG"  # optional, beside PSF_HDUS
#: optional, science images: the chromatic PSF's per-wavelength basis (romandia.chromatic.basis)
CHROMA_HDU = "CHROMA"
#: the aligned template handed from align to subtract in memory (:func:`as_stored`)
ALIGNED_HDUS = ("TMPL", "TMPLVAR", "TMPLMASK", "BLANK", "PSFT", "TMPLVAR0")
DIFFERENCE_SHARED = ("SCI", "SCIVAR", "SCIDQ")
DIFFERENCE_HDUS = ("DIFF", "VAR", "PSF", "ZPTIMG", "DECORR", "MATCH", "KSCI", "KTMPL")
#: carried from the aligned product into the difference product for photometry
DIFFERENCE_CARRIED = ("TMPL", "PSFT", "TMPLVAR0")
STAMP_HDUS = ("SCI", "TEMPLATE", "DIFF", "VAR", "SCIVAR", "TMPLVAR0")
#: table of input image key -> SHA-256 (:func:`checksum_hdu`); the lightcurve's provenance
#: takes the checksums from here instead of reading every staged product
INPUTS_HDU = "INPUTS"

# --------------------------------------------------------------------------- header keys
#: the staged image (and every product made from it)
KEY_SOURCE = "ROMSRC"  # the input image's path (last 68 characters)
KEY_X0, KEY_Y0 = "ROMX0", "ROMY0"  # 0-based SCA pixel of array pixel [0, 0]
KEY_SHA256 = "ROMSHA"  # SHA-256 of the input file as read (provenance: romandia.provenance)
#: a staged Roman L2 ASDF image (romandia.l2asdf)
KEY_FORMAT = "ROMFMT"  # ASDF (absent: FITS)
KEY_BUNIT = "ROMBUNIT"  # the file's pixel unit (MJy/sr or DN/s), converted to counts per exposure
KEY_GAIN = "ROMGAIN"  # [e-/DN] used for that conversion
KEY_WCSFIT = "WCSFITER"  # [px] largest distance of the fitted TAN-SIP from the file's gwcs
#: sky
KEY_SKYRMS = "SKYRMS"
KEY_SKYMED = "SKYMED"
KEY_NSOURCES = "NSOURCES"
KEY_NDETMASK = "NDETMASK"
KEY_VARMODE = "VARMODE"
KEY_DQMASK = "DQMASK"  # the DQ bits that mask a pixel
KEY_NDQMASK = "NDQMASK"  # pixels masked by them
#: psf member
KEY_PSFTYPE = "PSFTYPE"
KEY_PSFX, KEY_PSFY = "PSFX", "PSFY"
KEY_PSFSUM = "PSFSUM"
#: the optional ``PSFIMG`` member (galsim provider): the oversampled model image at the object
#: (romandia.psf.ModelImage), with ``PSFX``/``PSFY`` and these
KEY_OVERSAMP = "OVERSAMP"
KEY_PSFMAXK, KEY_PSFSTEPK = "PSFMAXK", "PSFSTEPK"  # [1/arcsec]
KEY_PSFMODEL = "PSFMODEL"  # romandia.psf.model_key
#: aligned member
KEY_TSKYRMS = "TSKYRMS"
KEY_TZPTMAG = "TZPTMAG"
KEY_TMPLNAME = "TMPLNAME"
#: difference member
KEY_FLUXSCL = "FLUXSCL"
KEY_FLUXSCLF = "FLUXSCLF"
KEY_KERHW = "KERHW"
KEY_KERORDER = "KERORDER"
KEY_NFITPIX = "NFITPIX"
KEY_FITCOMP = "FITCOMP"
KEY_BGORDER = "BGORDER"
KEY_CPHOTR = "CPHOTR"
#: failed member
KEY_STAGE, KEY_REASON = "ROMSTAGE", "ROMREASN"

#: HDUs written as float64 (kernels, PSFs: small, and sums matter); everything else float32
FLOAT64 = {"PSF", "ATPOS", "PSFT", "PSFT0", "DECORR", "MATCH", "KSCI", "KTMPL"}
UINT8 = {"DETMASK", "BLANK"}
#: Roman DQ bit flags (romandia.dq)
UINT32 = {"DQ", "SCIDQ"}

_FAILED = "FAILED"


def path(dia: str | os.PathLike, product: str, key: str) -> str:
    """Path of ``product`` for image ``key`` under ``dia`` (``dia_out_dir``)."""
    return os.path.join(str(dia), PATHS[product].format(key=key))


def hdu_name(name: str, member: str | int | None = None) -> str:
    """EXTNAME of HDU ``name`` of ``member`` (``name`` alone for shared HDUs)."""
    return name if member is None else f"{name}.{member}"


def stored_dtype(name: str) -> type:
    """The dtype HDU ``name`` has on disk (:data:`FLOAT64`, :data:`UINT8`, else float32)."""
    if name in FLOAT64:
        return np.float64
    if name in UINT8:
        return np.uint8
    if name in UINT32:
        return np.uint32
    return np.float32


def as_stored(members: Mapping[str, tuple]) -> dict:
    """``{name: (data, header)}`` with every array in the dtype it would have on disk.

    A step that hands its result to the next one in memory (``align`` to ``subtract``)
    passes it through this, so the next step sees the values a reader of the file would.
    """
    # ``d.astype``, not ``np.asarray(d)``: device (CuPy) arrays stay on the device
    return {n: (None if d is None else (d if hasattr(d, "astype") else np.asarray(d)).astype(stored_dtype(n),
                                                                                          copy=False), h)
            for n, (d, h) in members.items()}


def _hdu(name: str, data, header, member=None):
    dtype = stored_dtype(name)
    if dtype in (np.uint8, np.uint32):
        data = np.asarray(data).astype(dtype)
    return image_hdu(data, header, hdu_name(name, member), dtype=dtype)


def write_batch(
    out_path,
    members: Mapping[str, Mapping[str, tuple] | DataError],
    *,
    shared: Mapping[str, tuple] | None = None,
    primary_header: fits.Header | None = None,
    extra_hdus: Iterable = (),
) -> None:
    """Write a batch product atomically.

    Parameters
    ----------
    out_path : path
        Output file.
    members : mapping
        ``member -> {HDU name: (data, header or None)}``, or ``member -> DataError`` for a
        member whose step failed (written as ``FAILED.{member}``).
    shared : mapping, optional
        ``{HDU name: (data, header)}`` common to all members.
    primary_header : Header, optional
        Header of the (data-less) primary HDU.
    extra_hdus : iterable of HDUs
        Written after the shared HDUs (e.g. :func:`checksum_hdu`).
    """
    hdus = [fits.PrimaryHDU(header=primary_header)]
    for name, (data, hdr) in (shared or {}).items():
        hdus.append(_hdu(name, data, hdr))
    write_fits(out_path, hdus + list(extra_hdus) + _member_hdus(members))


def checksum_hdu(checksums: Mapping[str, str | None]) -> fits.BinTableHDU:
    """Table :data:`INPUTS_HDU`: image key and SHA-256 (hex) of each input image ('' unknown)."""
    keys = list(checksums)
    return fits.BinTableHDU.from_columns(
        [fits.Column(name="key", format=f"{max([1] + [len(k) for k in keys])}A", array=keys),
         fits.Column(name="sha256", format="64A", array=[checksums[k] or "" for k in keys])],
        name=INPUTS_HDU)


def write_prepared(out_path, staged_hdus: list, psfs: Mapping[str, Mapping[str, tuple] | DataError]) -> None:
    """Write the ``prepared`` product atomically: the staged, sky-subtracted image's HDUs
    (PRIMARY, :data:`SKY_HDUS`: :func:`romandia.steps.prepare.sky_product`) and one member
    of :data:`PSF_HDUS` per object (``psfs`` as ``members`` of :func:`write_batch`).

    One file per input image, not two: a science image's ``subtract`` job then has 1 + T
    inputs for T templates, which is what Snakemake's DAG time grows with
    (docs/benchmarks.md, ``bench/dag_scale.py``).
    """
    write_fits(out_path, list(staged_hdus) + _member_hdus(psfs))


def _member_hdus(members: Mapping[str, Mapping[str, tuple] | DataError]) -> list:
    hdus = []
    for member, content in members.items():
        if isinstance(content, DataError):
            h = fits.Header()
            h[KEY_STAGE] = content.stage
            h[KEY_REASON] = content.reason
            hdus.append(fits.ImageHDU(header=h, name=hdu_name(_FAILED, member)))
            continue
        for name, (data, hdr) in content.items():
            hdus.append(_hdu(name, data, hdr, member))
    return hdus


class Batch:
    """A batch product open for reading (a context manager).

    ``Batch(path).member(m, names)`` returns ``{name: (data, header)}`` or raises the
    member's (or the whole file's) :class:`DataError`.
    """

    def __init__(self, in_path):
        self.path = str(in_path)
        self.failure = read_failure(self.path)
        self._hdul = None if self.failure else fits.open(self.path, memmap=False)
        self._names = set() if self._hdul is None else {h.name for h in self._hdul}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None

    def status(self, member) -> DataError | None:
        """The DataError of ``member`` (or of the whole file), None when it is good."""
        if self.failure is not None:
            return self.failure
        failed = hdu_name(_FAILED, member)
        if failed in self._names:
            h = self._hdul[failed].header
            return DataError(h.get(KEY_STAGE, "unknown"), h.get(KEY_REASON, ""))
        return None

    def _read(self, name: str) -> tuple:
        h = self._hdul[name]
        return (None if h.data is None else np.asarray(h.data), h.header.copy())

    def member(self, member, names: Iterable[str]) -> dict:
        """``{name: (data, header)}`` of ``member``; raises its DataError if it failed."""
        err = self.status(member)
        if err is not None:
            raise err
        out = {}
        for n in names:
            ext = hdu_name(n, member)
            if ext not in self._names:
                raise DataError("products", f"{self.path} has no HDU {ext}")
            out[n] = self._read(ext)
        return out

    def members_with(self, name: str) -> list[str]:
        """The members that have HDU ``name`` (file order; [] for a failure marker)."""
        prefix = hdu_name(name, "")
        return [] if self._hdul is None else [h.name[len(prefix):] for h in self._hdul if h.name.startswith(prefix)]

    def header(self, name: str, member=None) -> fits.Header:
        """The header of HDU ``name`` (of ``member``), without reading its data; raises the
        file's DataError."""
        if self.failure is not None:
            raise self.failure
        return self._hdul[hdu_name(name, member)].header.copy()

    def checksums(self) -> dict:
        """``{image key: SHA-256}`` of the :data:`INPUTS_HDU` table ({} without one or for a
        failure marker); unknown checksums are left out."""
        if self._hdul is None or INPUTS_HDU not in self._names:
            return {}
        data = self._hdul[INPUTS_HDU].data
        return {str(k): str(s) for k, s in zip(data["key"], data["sha256"], strict=True) if str(s)}

    def shared(self, names: Iterable[str]) -> dict:
        """``{name: (data, header)}`` of the shared HDUs; raises the file's DataError."""
        if self.failure is not None:
            raise self.failure
        return {n: self._read(n) for n in names}


def read_members(in_path, member, names: Iterable[str]) -> dict:
    """Shortcut: one member of a batch product (see :class:`Batch`)."""
    with Batch(in_path) as b:
        return b.member(member, names)
