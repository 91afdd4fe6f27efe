/* mw_log.h -- the natural logarithm of a log sweep's onsets, the package's own
 * (mw_log, and mw_log1p for the onsets themselves).
 *
 * mw_log(x) for a positive, finite, normal x -- the arguments a sweep's
 * plan gives it: f1/f0, and 1 + k ln(f1/f0) / (f0 T) (through mw_log1p)
 * for the pulses up to the sweep's end, between f1/f0 and 1 or 1 and
 * f1/f0 (f1/f0 within
 * [5e-8, 2e7]).  NaN for any other x (0, a negative, a subnormal, an
 * infinity, a NaN: a plan whose phase at the end lies past its sweep's
 * asks for such), as the C library's log gives NaN or -inf there: the
 * schedule takes a NaN time as the train's end.  No branch, no table, no
 * libm call, so that
 *
 *   - a batch of onsets vectorises: the AVX2 clone of sched_sweep_batch
 *     takes four at a time, about 10 instructions an onset against about
 *     50 for a call to the C library's log;
 *   - a log sweep's onsets are the same bits on every system: they do not
 *     depend on which C library (and which version of its log) the
 *     extension was linked against.
 *
 * The method (the textbook one, e.g. J.-M. Muller, "Elementary Functions",
 * ch. 11):
 *   x = 2**e m, m in [sqrt(2)/2, sqrt(2)), read from x's bits;
 *   f = m - 1 (exact); s = f / (2 + f), so that log(m) = 2 atanh(s)
 *     = 2s + s R, R = sum over n = 1..10 of 2/(2n+1) s**(2n)
 *     (|s| < 0.1716: the first term left out, s**23 / 11.5, is below
 *     2**-60 of the result);
 *   2s is formed as f - f**2/2 + s f**2/2 (the same number: 2s = f - s f),
 *     so that the one large term, f, enters exact;
 *   e ln 2 in two parts: LN2_HI is ln 2 with its last 11 bits cleared
 *     (e LN2_HI is exact for |e| < 2**11), LN2_LO the rest.
 * Error within 1 ulp of log(x) (0.86 ulp the worst found over 4e7
 * arguments; tests/oracle/test_sweep_log.py checks it against decimal
 * arithmetic to 60 digits, through microwave._core._sweep_log).
 *
 * Every operation is a plain IEEE double add, multiply or divide in the
 * order written (the extension is built with -ffp-contract=off: no FMA
 * fuses two of them), so any implementation doing the same operations in
 * the same order -- numpy's ufuncs, numba -- gets the same bits.
 */
#ifndef MW_LOG_H
#define MW_LOG_H
#include <stdint.h>
#include <string.h>

#define MW_LOG_NAN_BITS UINT64_C(0x7ff8000000000000)     /* a quiet NaN */
#define MW_LN2_HI 0x1.62e42fefa38p-1        /* 0x3fe62e42fefa3800 */
#define MW_LN2_LO 0x1.ef35793c7673p-45
/* the mantissa bits of sqrt(2) rounded to nearest (just above sqrt(2)):
 * m at or above it, every m above sqrt(2), is halved */
#define MW_LOG_SQRT2_BITS UINT64_C(0x6a09e667f3bcd)

static inline double mw_log(double x)
{
    uint64_t u, u0, mant, up, keep;
    double m, e, f, hfsq, s, z, r;
    memcpy(&u, &x, sizeof u);
    u0 = u;
    mant = u & UINT64_C(0x000fffffffffffff);
    up = mant >= MW_LOG_SQRT2_BITS;                 /* 1: m = 1.mant / 2, in the binade below */
    e = (double)((int32_t)(u >> 52) - 1023 + (int32_t)up);
    u = mant | ((UINT64_C(1023) - up) << 52);
    memcpy(&m, &u, sizeof m);
    f = m - 1.0;
    hfsq = 0.5 * f * f;
    s = f / (2.0 + f);
    z = s * s;
    r = z * (2.0 / 3 + z * (2.0 / 5 + z * (2.0 / 7 + z * (2.0 / 9 + z * (2.0 / 11 + z * (2.0 / 13
        + z * (2.0 / 15 + z * (2.0 / 17 + z * (2.0 / 19 + z * (2.0 / 21))))))))));
    r = ((e * MW_LN2_LO + s * (hfsq + r)) - hfsq + f) + e * MW_LN2_HI;
    /* NaN outside the domain, by the bits (a comparison of doubles under a
     * condition is control flow GCC does not vectorise): positive, with an
     * exponent field from 1 to 2046 */
    keep = UINT64_C(0) - (uint64_t)((u0 >> 52) - 1 < 0x7fe);
    memcpy(&u, &r, sizeof u);
    u = (u & keep) | (MW_LOG_NAN_BITS & ~keep);
    memcpy(&r, &u, sizeof r);
    return r;
}

/* log(1 + y), for y > -1: mw_log of u = 1 + y, plus what rounding 1 + y
 * lost, d = y - (u - 1), as d / u (log(u + d) = log u + d/u to second
 * order: d is at most half an ulp of u).  A sweep's onsets take it: where
 * f1/f0 is within a few 1e-8 of 1, y = k ln(f1/f0) / (f0 T) is tiny and
 * 1 + y kept too few of its digits (onsets of many pulses the same).  The
 * same operations in the same order as written, as mw_log's. */
static inline double mw_log1p(double y)
{
    const double u = 1.0 + y;
    return mw_log(u) + (y - (u - 1.0)) / u;
}

#endif
