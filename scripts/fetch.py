"""Rule fetch: validate an OU2024 image and stage it (see romandia.io)."""

from romandia import io, products, runner


def main(log):
    p = snakemake.params.image  # noqa: F821
    img = io.load_ou_image(p["path"], expected_band=p["band"])
    w = img.wcs
    ny, nx = img.data.shape
    centres = []
    for oid, ra, dec in p["objects"]:
        x, y = io.sky_to_pixel(w, ra, dec)
        inside = -0.5 <= x < nx - 0.5 and -0.5 <= y < ny - 0.5
        log.info("object %s at pixel (%.2f, %.2f)%s", oid, x, y, "" if inside else " (outside)")
        if inside:
            centres.append((x, y))
    bounds = io.cutout_bounds(img.data.shape, centres, snakemake.params.cutout_size)  # noqa: F821
    out = io.crop_image(img, bounds)
    log.info("staged %s: %s -> %s (bounds %s)", p["path"], img.data.shape, out.data.shape, bounds)
    io.write_image(snakemake.output[0], out, {products.KEY_SOURCE: str(p["path"])[-68:]})  # noqa: F821


runner.run(snakemake, main)  # noqa: F821
