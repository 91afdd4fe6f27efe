/* mw_rational.h -- exact sample counts: whole + rem / den.
 *
 * A regular train's onsets come from these, never from a float that
 * accumulates.  Header only: every helper is small and runs per pulse, so
 * each is static inline.  No memory is owned; safe in the audio thread.
 */
#ifndef MW_RATIONAL_H
#define MW_RATIONAL_H
#include <stdint.h>

typedef struct mw_rat {
    /* a non-negative number of samples: whole + rem / den, 0 <= rem < den */
    int64_t whole;
    int64_t rem;
    int64_t den;
} mw_rat;

/* a += b; a and b share a denominator */
static inline void rat_add(mw_rat *a, const mw_rat *b)
{
    a->whole += b->whole;
    a->rem += b->rem;
    if (a->rem >= a->den) {
        a->rem -= a->den;
        a->whole += 1;
    }
}

/* a >= b, exactly (rem * den < 2**62 as dens are kept below 2**31) */
static inline int rat_ge(const mw_rat *a, const mw_rat *b)
{
    if (a->whole != b->whole)
        return a->whole > b->whole;
    return a->rem * b->den >= b->rem * a->den;
}

/* greatest common divisor (C's % : the sign follows a) */
static inline int64_t mw_gcd(int64_t a, int64_t b)
{
    int64_t t;
    while (b != 0) {
        t = a % b;
        a = b;
        b = t;
    }
    return a;
}

#endif
