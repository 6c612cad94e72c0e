"""Rule stamps: cutouts at the object of the science, aligned template, difference and variance.

Also the science variance (science frame) and the template variance on the template's own
grid, with their WCSs, for the exact propagation of the flux error (romandia.errorprop).
"""

from astropy.coordinates import SkyCoord

from romandia import io, runner, stamps


def main(log):
    err = io.first_failure(snakemake.input)  # noqa: F821
    if err:
        raise err
    sky = io.read_hdus(snakemake.input.sci, ["SKYSUB", "VAR"])  # noqa: F821
    sci = sky["SKYSUB"]
    tmpl_var = io.read_hdus(snakemake.input.tmpl, ["VAR"])["VAR"]  # noqa: F821
    tmpl = io.read_hdus(snakemake.input.aligned, ["TMPL"])["TMPL"]  # noqa: F821
    sub = io.read_hdus(snakemake.input.diff, ["DIFF", "VAR"])  # noqa: F821
    ra, dec = snakemake.params.radec  # noqa: F821
    size = snakemake.params.size  # noqa: F821
    hdus = [io.fits.PrimaryHDU()]
    for name, (data, hdr) in (("SCI", sci), ("TEMPLATE", tmpl), ("DIFF", sub["DIFF"]), ("VAR", sub["VAR"]),
                              ("SCIVAR", sky["VAR"]), ("TMPLVAR0", tmpl_var)):
        cut, cut_hdr = stamps.cutout(data, hdr, SkyCoord(ra, dec, unit="deg"), size)
        hdus.append(io.image_hdu(cut, cut_hdr, name))
    log.info("stamps of %d px at (%.6f, %.6f)", size, ra, dec)
    io.write_fits(snakemake.output[0], hdus)  # noqa: F821


runner.run(snakemake, main)  # noqa: F821
