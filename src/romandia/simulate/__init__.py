"""OU2024-layout Roman WFI image simulator (galsim.roman PSFs, WCS, sky and noise).

Public entry points::

    from romandia.simulate import simulate, load_preset, roman_psf_stamp
    summary = simulate("demo", "data/demo", seed=None, config_overrides=None)

Submodules: ``config`` (presets, schema), ``pointings`` (obseq / synthetic pointings, WCS,
cutouts), ``scene`` (stars, galaxies, hosts), ``lightcurves`` (sncosmo Hsiao, SNANA truth),
``psf`` (galsim.roman PSFs; :func:`~romandia.simulate.psf.roman_psf_stamp`), ``render``,
``seds`` and ``sedrender`` (``image.psf.sed: per_object``: every object drawn with its own
SED), ``noise`` (sky + OU2024 simple_model chain), ``writer``, ``core`` (the driver).
Attributes are imported lazily so that ``import romandia.simulate.psf`` stays light.
"""

__all__ = ["simulate", "load_preset", "roman_psf_stamp", "preset_names"]


def __getattr__(name):
    if name == "simulate":
        from romandia.simulate.core import simulate

        return simulate
    if name in ("load_preset", "preset_names"):
        from romandia.simulate import config

        return getattr(config, name)
    if name == "roman_psf_stamp":
        from romandia.simulate.psf import roman_psf_stamp

        return roman_psf_stamp
    raise AttributeError(f"module 'romandia.simulate' has no attribute {name!r}")
