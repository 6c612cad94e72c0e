"""Cross-convolution and the per-pair difference-imaging flow (the SFFT solve itself:
:mod:`romandia.sfft_solve`; the fit-mask policy: :mod:`romandia.fitmask`).

The per-pair flow (:func:`difference_pair`) follows phrosty / ``SpaceSFFT_Flow``:

1. cross-convolve: ``Ct = S ⊗ P_T′``, ``Co = T′ ⊗ P_S`` (both now have the PSF
   ``P_S ⊗ P_T′``);
2. SFFT with REF = ``Co`` (convolved by the matching kernel ``K``) and SCI = ``Ct``:
   ``DIFF = Ct − K ⊗ Co − B``, ``K`` fitted on pixels detected in both images;
3. decorrelate ``DIFF``, ``Ct`` and the common PSF with the filter of
   :mod:`romandia.decorrelate`;
4. variance of the decorrelated difference.

Conventions
-----------
* All public arrays are ``[y, x]``, 0-based pixel coordinates.  ``sfft`` works on
  ``[x, y]`` arrays: :mod:`romandia.sfft_solve` is the only place that transposes.
* PSFs are odd-sized centred stamps in the science pixel frame; when used as convolution
  kernels they are normalised to sum 1.  ``P_S`` keeps its own sum in the common PSF
  (stamp sum = enclosed fraction, see ``docs/architecture.md``).
* Inputs are sky-subtracted (masked pixels enter SFFT's least squares as zeros).

Threads: see :mod:`romandia.sfft_solve`.

Submodules
----------
``params``
    :data:`DEFAULT_PARAMS` (the keys of ``difference_pair``'s ``params``).
``crossconvolve``
    :func:`cross_convolve`, :func:`effective_radius`.
``pair``
    :func:`difference_pair`, :class:`PairDifference` and the stages of the flow.

Everything listed in ``__all__`` (and the private helpers of the flow) is importable from
``romandia.subtract``; :func:`apply_sfft_solution`, :func:`sfft_solve_subtract`,
:func:`plan_tiles`, :func:`match_kernel_at` (:mod:`romandia.sfft_solve`) and
:func:`exclude_from_fit` (:mod:`romandia.fitmask`) are re-exported here.
"""

from romandia.fitmask import exclude_from_fit
from romandia.sfft_solve import (
    apply_sfft_solution,
    match_kernel_at,
    plan_tiles,
    sfft_solve_subtract,
)

from .crossconvolve import cross_convolve, effective_radius
from .pair import PairDifference, difference_pair
from .pair import _decorrelate as _decorrelate
from .pair import _Decorrelated as _Decorrelated
from .pair import _Fit as _Fit
from .pair import _fit_mask as _fit_mask
from .pair import _impose_flux_scale as _impose_flux_scale
from .pair import _Inputs as _Inputs
from .pair import _inputs as _inputs
from .pair import _solve as _solve
from .params import DEFAULT_PARAMS
from .params import _params as _params

__all__ = [
    "DEFAULT_PARAMS",
    "apply_sfft_solution",
    "cross_convolve",
    "sfft_solve_subtract",
    "plan_tiles",
    "match_kernel_at",
    "effective_radius",
    "difference_pair",
    "PairDifference",
    "exclude_from_fit",
]
