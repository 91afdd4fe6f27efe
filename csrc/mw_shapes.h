/* The curved ramp shapes, as polynomials on x in [0, 1] (x = position in
 * the segment / its length).  Least-squares fits on Chebyshev nodes, in
 * double; both are exactly 0 at x = 0 and never negative on [0, 1].
 *
 * raised cosine  0.5 - 0.5 cos(pi x) = sin(pi x / 2)^2,  sin(pi x / 2) = x P(x^2)
 *                (P of degree 4 in x^2: max error 7e-9)
 * exponential    (1 - exp(-5 x)) / (1 - exp(-5)) = x Q(x)   (Q of degree 11: max error 7e-10)
 *
 * Pure arithmetic with no table and no branch, so a loop over samples
 * vectorises: mw_ramp_apply (mw_envelope.c) is built twice on x86-64 Linux with GCC, for
 * AVX2 and for the baseline, and the loader picks one for the CPU.  No
 * FMA: both builds do the same IEEE operations and give the same bits.
 * tests/test_envelopes_patterns.py checks the shapes against libm.
 */
#ifndef MW_SHAPES_H
#define MW_SHAPES_H

static inline double mw_shape_cosine(double x) {
    double x2 = x * x;
    double s = x * (1.570796297284368 + x2 * (-0.6459634394774798 + x2 * (0.07968873791831749
               + x2 * (-0.004672548101085472 + x2 * 0.00015095608604973054))));
    return s * s;
}

static inline double mw_shape_exp(double x) {
    return x * (5.033918132984465 + x * (-12.584786001793226 + x * (20.974426237819028
           + x * (-26.21548681366423 + x * (26.19794026582146 + x * (-21.754487644832636
           + x * (15.312566478091057 + x * (-9.116734032337543 + x * (4.441731727300911
           + x * (-1.6436320269312907 + x * (0.4024174350433878 + x * -0.04787375802052596)))))))))));
}

/* MW_CLONES (the AVX2 + baseline clones, where the compiler makes them) */
#include "mw_port.h"

#endif
