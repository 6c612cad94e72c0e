"""Split each measured SN flux into truth + noise + systematic error (docs/validation.md, fix 6).

The workflow's library functions run in-process on a noisy simulation and on its noiseless twin
(same seed and scene, ``image.noiseless: true``).  Every step after the sky subtraction is
linear in the images once the SFFT kernel and the decorrelation filter are fixed, so the
noise-only difference is those steps applied to (noisy - noiseless) images with the kernel fitted
on the noisy pair, and

    measured - truth = noise part + systematic part,

where the systematic part is what the scene (host, neighbours) leaves at the SN through
the fitted kernel, resampling and PSF models.  A correct variance model gives noise-only
pulls of unit width; systematic/flux_err shows how much the scene adds.

usage (from the repo root):
    python bench/decompose.py --noisy N --noiseless NL --band H158 [--params '{"flux_scale": "fit"}']
        [--oids 91000001,91000002] [--resample-kernel lanczos4] [--template-psf exact] [--psf-size 101]
    # data: romandia simulate --preset validation --config over.yaml --out N   (and with
    #       image: {noiseless: true} added, --out NL)
"""

import argparse
import json

import numpy as np
import scipy.fft
import yaml

from romandia import io, noise, ou2024, photometry, resample, sky, subtract
from romandia import psf as rpsf
from romandia.convolve import kernel_convolve
from romandia.decorrelate import apply_filter, decorrelation_filter, decorrelation_grid


def read_list(root, rel):
    return [line.split() for line in open(f"{root}/{rel}").read().splitlines()[1:]]


def load(root, rel):
    img = io.load_ou_image(f"{root}/images/simple_model/{rel}")
    res = sky.subtract_sky(img.data)
    return img, res, noise.variance_map(res.skysub, res.rms)


def template_psf_exact(timg, xt, yt, simg, x, y, size=41):
    """The template's PSF (optical PSF * the template's pixel) drawn at the science pixel
    centres around (x, y): what resampling the template ideally gives, with no interpolation
    of an undersampled stamp (``rotate_psf`` interpolates the native template stamp)."""
    import galsim

    from romandia.simulate import psf as spsf

    wt, pos_t = spsf._as_sca_wcs(timg.header, xt, yt, None)
    wsc, pos_s = spsf._as_sca_wcs(simg.header, x, y, None)
    band = str(timg.header["FILTER"]).strip()
    opt = spsf.get_psf(band, int(timg.header["SCA_NUM"]), pos_t, wt)
    prof = galsim.Convolve(opt, wt.local(pos_t).toWorld(galsim.Pixel(1.0)))
    return prof.drawImage(nx=size, ny=size, wcs=wsc.local(pos_s), method="no_pixel",
                          dtype=np.float64).array


def fit(img, var, psf, x, y):
    return photometry.forced_psf_photometry(img, var, psf, x, y, psf_at_position=True,
                                            weights="background")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noisy", required=True)
    ap.add_argument("--noiseless", required=True)
    ap.add_argument("--band", required=True)
    ap.add_argument("--params", default="{}", help="difference_pair params (JSON); "
                    "flux_scale 'zeropoint' = from the headers, 'fit' = fitted")
    ap.add_argument("--oids", default="")
    ap.add_argument("--resample-kernel", default="lanczos3", choices=sorted(resample.KERNELS),
                    help="template interpolant (the workflow's resample_kernel)")
    ap.add_argument("--template-psf", default="rotated", choices=["rotated", "exact"],
                    help="rotated: the workflow's rotate_psf of the template stamp; exact: "
                    "the template's galsim PSF drawn in the science frame (experiment)")
    ap.add_argument("--psf-size", type=int, default=41, help="PSF stamp side [px] (config psf.params.size)")
    ap.add_argument("--out", default=None, help="JSON of the rows")
    a = ap.parse_args()
    n_root, nl_root = a.noisy, a.noiseless
    params = json.loads(a.params)
    scale_mode = params.pop("flux_scale", "zeropoint")
    oids = {int(v) for v in a.oids.split(",") if v}
    objs = [o for o in yaml.safe_load(open(f"{n_root}/objects.yaml"))
            if o["band"] == a.band and (not oids or o["oid"] in oids)]
    rows = []
    for o in objs:
        t_rel = read_list(n_root, o["templates"])[0][0]
        timg, tres, tvar = load(n_root, t_rel)
        t_noise = timg.data - io.load_ou_image(f"{nl_root}/images/simple_model/{t_rel}").data
        wt = timg.wcs
        for s in read_list(n_root, o["science"]):
            simg, sres, svar = load(n_root, s[0])
            s_noise = simg.data - io.load_ou_image(f"{nl_root}/images/simple_model/{s[0]}").data
            ws = simg.wcs
            x, y = (float(v) for v in ws.world_to_pixel_values(o["ra"], o["dec"]))
            xt, yt = (float(v) for v in wt.world_to_pixel_values(o["ra"], o["dec"]))
            psz = {"size": a.psf_size}
            ps = rpsf.psf_stamp("galsim", psz, simg.header, x, y)
            ps_at = rpsf.psf_stamp("galsim", psz, simg.header, x, y, at_position=True)
            pt = rpsf.psf_stamp("galsim", psz, timg.header, xt, yt)
            xs, ys = resample.pixel_map(ws, sres.skysub.shape, wt)
            rs = resample.resample_image_set(tres.skysub, xs, ys, var=tvar, mask=tres.detmask,
                                             kernel=a.resample_kernel)
            rs_noise = resample.resample_image_set(t_noise, xs, ys, kernel=a.resample_kernel)["image"]
            pt_rot = resample.rotate_psf(pt, resample.local_jacobian(wt, xt, yt),
                                         resample.local_jacobian(ws, x, y))
            if a.template_psf == "exact":
                ex = template_psf_exact(timg, xt, yt, simg, x, y, size=pt.shape[0])
                pt_rot = ex * (pt_rot.sum() / ex.sum())
            mask = subtract.exclude_from_fit(sres.detmask, [(x, y)], 15)
            fex = ~subtract.exclude_from_fit(np.ones(mask.shape, bool), [(x, y)], 15)
            p = dict(params, threads=1)
            if scale_mode == "zeropoint":
                p["flux_scale"] = 10 ** (0.4 * (simg.header["ZPTMAG"] - timg.header["ZPTMAG"]))
            r = subtract.difference_pair(sres.skysub, svar, mask, ps, sres.sky_rms, rs["image"],
                                         rs["var"], rs["mask"], rs["blank"], pt_rot, tres.sky_rms,
                                         params=p, fit_exclude=fex)
            sol = r.solution
            w, dk, db = sol["kernel_half_width"], sol["kernel_poly_order"], sol["bg_poly_order"]
            kd = r.match_kernel
            f_k = float(kd.sum()) / r.fitted_flux_scale

            def linear(sci_img, tmpl_img, sol=sol, w=w, dk=dk, db=db, kd=kd, f_k=f_k, ps=ps,
                       pt_rot=pt_rot, sres=sres, tres=tres):
                ct, co, _ = subtract.cross_convolve(sci_img, tmpl_img, ps, pt_rot)
                zero = np.zeros_like(ct)
                d = ct - f_k * (ct - subtract.apply_sfft_solution(co, ct, sol["coeffs"][0], w, dk, db)
                                - (ct - subtract.apply_sfft_solution(zero, ct, sol["coeffs"][0], w, dk, db)))
                grid = decorrelation_grid(ps, pt_rot, kd)
                fshape = tuple(scipy.fft.next_fast_len(n + grid[0] // 2, real=True) for n in d.shape)
                phi = decorrelation_filter(fshape, ps, pt_rot, float(sres.sky_rms), float(tres.sky_rms),
                                           match_kernel=kd,
                                           floor=float(subtract.DEFAULT_PARAMS["decorr_floor"]))
                return apply_filter(d, phi, fshape)

            d_noise = linear(s_noise, rs_noise)
            psf_eff = kernel_convolve(kernel_convolve(ps_at, pt_rot / pt_rot.sum()), r.decorr_kernel)
            b, pnt, sca = s[0].split("/")[-1].replace(".fits.gz", "").split("_")[-3:]
            cat = ou2024.read_truth_catalog(f"{n_root}/truth/{ou2024.truth_relpath(b, int(pnt), int(sca))}")
            f_true = float(cat[cat.object_id == o["oid"]].flux.iloc[0])
            m = fit(r.diff, r.var, psf_eff, x, y)
            n = fit(d_noise, r.var, psf_eff, x, y)
            row = {"oid": o["oid"], "science": s[0], "f_true": f_true, "flux": m["flux"],
                   "flux_err": m["flux_err"], "noise": n["flux"],
                   "systematic": m["flux"] - n["flux"] - f_true, "flux_scale": r.flux_scale,
                   "fitted_flux_scale": r.fitted_flux_scale}
            rows.append(row)
            print("%d %-28s true %9.1f meas %9.1f ± %6.1f  noise %7.1f  systematic %7.1f  "  # noqa: UP031
                  "scale %.4f (fitted %.4f)" % (o["oid"], s[0].split("/")[-1][23:-8], f_true,
                                                m["flux"], m["flux_err"], n["flux"],
                                                row["systematic"], r.flux_scale,
                                                r.fitted_flux_scale), flush=True)
    e = np.array([r["flux_err"] for r in rows])
    pull = (np.array([r["flux"] for r in rows]) - np.array([r["f_true"] for r in rows])) / e
    pn = np.array([r["noise"] for r in rows]) / e
    sy = np.array([r["systematic"] for r in rows]) / e
    ok = np.isfinite(pull)
    print(f"{a.band} {a.params} {a.resample_kernel} {a.template_psf} psf {a.psf_size}: N {ok.sum()}  pull mean {pull[ok].mean():+.3f} std {pull[ok].std():.3f}"
          f" | noise-only pull std {pn[ok].std():.3f} | systematic/err mean {sy[ok].mean():+.3f}"
          f" rms {np.sqrt(np.mean(sy[ok] ** 2)):.3f}")
    if a.out:
        json.dump(rows, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
