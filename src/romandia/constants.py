"""Roman WFI and OpenUniverse 2024 constants.

Values come from ``galsim.roman`` (2.8.4) and the OU2024 roman_imsim configuration
(``Roman_TDS_obseq_11_6_23.fits``, ``tds.yaml``).  The galsim bandpass zeropoints are
tabulated here so that reading a zeropoint does not require importing galsim; a test
checks the table against ``galsim.roman.getBandpasses``.
"""

import math

#: Bands of the OU2024 Roman TDS, in wavelength order.
BANDS = ("R062", "Z087", "Y106", "J129", "H158", "F184", "K213")

#: OU2024 exposure time per band [s].
EXPTIME = {
    "R062": 161.025,
    "Z087": 101.7,
    "Y106": 302.275,
    "J129": 302.275,
    "H158": 302.275,
    "F184": 901.175,
    "K213": 901.175,
}

#: galsim.roman.getBandpasses(AB_zeropoint=True)[band].zeropoint: AB mag of 1 photon/s/cm^2.
GALSIM_ZEROPOINT = {
    "R062": 15.296832274841094,
    "Z087": 14.964334468671934,
    "Y106": 15.023547191066584,
    "J129": 15.03962528980125,
    "H158": 15.074164829833911,
    "F184": 14.62199399091576,
    "K213": 14.579315583138646,
    "W146": 16.270076102201493,
}

#: Single letter used in SNANA truth HDF5 datasets ``mag_{letter}``.
SNANA_LETTER = {b: b[0] for b in BANDS}
#: simulator image lists per image format: FITS in ``lists/``, Roman L2 ASDF in ``lists_asdf/``
LIST_DIRS = {"fits": "lists", "asdf": "lists_asdf"}
#: romancal's names of the bands (Roman L2 ``meta.instrument.optical_element``)
OPTICAL_ELEMENT = {"R062": "F062", "Z087": "F087", "Y106": "F106", "J129": "F129",
                   "H158": "F158", "F184": "F184", "K213": "F213"}

COLLECTING_AREA = 37570.0  # cm^2
PIXEL_SCALE = 0.11  # arcsec / pixel (nominal)
SCA_NPIX = 4088
N_SCA = 18
GAIN = 1.0  # e- / ADU
READ_NOISE = 8.5  # e- rms
DARK_CURRENT = 0.015  # e- / s / pixel
SATURATION = 100000.0  # e-, OU2024 simple_model clip level

#: Sky-subtracted counts at or above which a pixel is treated as saturated (OU2024 clips raw
#: pixels at ``SATURATION``; 0.9 leaves room for the sky): kept out of the SFFT fit and
#: fails photometry at the object.
SATURATION_LEVEL = 0.9 * SATURATION
STRAY_LIGHT_FRACTION = 0.1

#: Filename of an OU2024 simple_model image.
IMAGE_TEMPLATE = "{band}/{pointing}/Roman_TDS_simple_model_{band}_{pointing}_{sca}.fits.gz"
IMAGE_REGEX = r"^Roman_TDS_simple_model_(?P<band>[^_]+)_(?P<pointing>\d+)_(?P<sca>\d+)\.(fits(\.gz)?|asdf)$"
TRUTH_TEMPLATE = "{band}/{pointing}/Roman_TDS_index_{band}_{pointing}_{sca}.txt"

#: Header line of phrosty's image lists.
IMAGELIST_HEADER = "path observation_id sca mjd band"


def zptmag(exptime: float) -> float:
    """Header ``ZPTMAG`` = 2.5 log10(exptime * collecting_area) [mag]."""
    return 2.5 * math.log10(exptime * COLLECTING_AREA)


def zeropoint(band: str, zpt_mag: float) -> float:
    """AB magnitude of one count in an OU2024 image: galsim bandpass zp + ``ZPTMAG``.

    Parameters
    ----------
    band : str
        Roman band, e.g. ``"Y106"``.
    zpt_mag : float
        The image header's ``ZPTMAG``.

    Returns
    -------
    float
        ``m_AB = -2.5 log10(counts) + zeropoint``.
    """
    return GALSIM_ZEROPOINT[band] + zpt_mag
