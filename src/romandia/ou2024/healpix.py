"""HEALPix RING pixel index of a position, as in OU2024's SNANA file names (nside 32)."""

from __future__ import annotations

import math


def healpix_ring(ra: float, dec: float, nside: int = 32) -> int:
    """HEALPix RING pixel index of (ra, dec) (Górski et al. 2005), as in OU2024's file names.

    Parameters
    ----------
    ra, dec : float
        Position [deg].
    nside : int
        HEALPix resolution (OU2024 uses 32).

    Returns
    -------
    int
        e.g. 10430 for SN 20172782 (ra 7.551, dec -44.807).
    """
    z = math.sin(math.radians(dec))
    za = abs(z)
    tt = (math.radians(ra) % (2 * math.pi)) / (0.5 * math.pi)  # in [0, 4)
    if za <= 2.0 / 3.0:
        t1 = nside * (0.5 + tt)
        t2 = nside * z * 0.75
        jp = int(t1 - t2)
        jm = int(t1 + t2)
        ir = nside + 1 + jp - jm
        kshift = 1 - (ir & 1)
        ip = (jp + jm - nside + kshift + 1) // 2
        ip %= 4 * nside
        return 2 * nside * (nside - 1) + (ir - 1) * 4 * nside + ip
    tp = tt - int(tt)
    tmp = nside * math.sqrt(3.0 * (1.0 - za))
    jp = int(tp * tmp)
    jm = int((1.0 - tp) * tmp)
    ir = jp + jm + 1
    ip = int(tt * ir) % (4 * ir)
    if z > 0:
        return 2 * ir * (ir - 1) + ip
    return 12 * nside * nside - 2 * ir * (ir + 1) + ip
