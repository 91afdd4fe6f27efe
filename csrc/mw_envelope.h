/* mw_envelope.h -- ramps and envelopes: an amplitude multiplier.
 *
 * An envelope is a list of segments, each going from one level to another
 * over a whole number of samples with a shape (hold, linear, raised-cosine,
 * exponential), played once (then holding a final level) or looped.  The
 * level of every sample comes from its integer position in its segment, so
 * it is the same whatever the block size.  Curved shapes are polynomials
 * (error below 1e-8, exactly 0 at the start of a segment, mw_shapes.h);
 * every sample of a ramp goes through the same branch-free loop, which the
 * compiler vectorises (mw_ramp_apply, built for AVX2 and the baseline).
 *
 * Plain data, no memory owned; nothing allocates, all of it may run in the
 * audio thread.  env_skip and env_level run per pulse (a unit's gain):
 * static inline here; the block loops are in mw_envelope.c.
 */
#ifndef MW_ENVELOPE_H
#define MW_ENVELOPE_H
#include <stddef.h>
#include <stdint.h>
#include "mw_limits.h"

enum { MW_CHUNK = 1 << 20 };     /* a ramp is applied in chunks indexed by a C int */

typedef struct mw_envelope {
    int n;                        /* segments; 0 = no envelope (unity) */
    int loop;
    int64_t length[MW_MAX_SEGS];  /* samples, > 0 */
    int shape[MW_MAX_SEGS];       /* MW_SHAPE_* */
    double a[MW_MAX_SEGS];        /* level at the start of the segment */
    double b[MW_MAX_SEGS];        /* level it reaches at the end */
    double after;                 /* level once a non-looping envelope has ended */
    /* running state */
    int idx;
    int64_t pos;
    int done;
} mw_envelope;

/* o[j] *= a + d * shape((b + j) * inv) for j < n (linear: a + slope * (b + j));
 * shape is MW_SHAPE_LINEAR, _COSINE or _EXP */
void mw_ramp_apply(float *o, int n, int shape, double b, double inv, double a, double d, double slope);

/* Multiply the next N samples of out by the envelope. */
void env_apply(mw_envelope *e, float *out, ptrdiff_t N);

static inline void env_reset(mw_envelope *e)
{
    e->idx = 0;
    e->pos = 0;
    e->done = e->n == 0;
}

/* On to the next segment (round again, or done, after the last). */
static inline void env_next(mw_envelope *e)
{
    e->pos = 0;
    e->idx += 1;
    if (e->idx == e->n) {
        if (e->loop)
            e->idx = 0;
        else
            e->done = 1;
    }
}

/* Move the envelope k samples on without applying it. */
static inline void env_skip(mw_envelope *e, int64_t k)
{
    int64_t r, cycle = 0;
    int i;
    if (e->loop && k > 0 && !e->done) {
        for (i = 0; i < e->n; i++)
            cycle += e->length[i];
        if (k > 2 * cycle)       /* whole loops change nothing */
            k -= (k / cycle - 1) * cycle;
    }
    while (k > 0 && !e->done) {
        r = e->length[e->idx] - e->pos;
        if (k < r) {
            e->pos += k;
            return;
        }
        k -= r;
        env_next(e);
    }
}

/* The level of the current sample, as env_apply would scale a 1.0 by it
 * (the same arithmetic: the same bits). */
static inline float env_level(const mw_envelope *e)
{
    float x = 1.0f;
    int64_t L;
    double a, d;
    if (e->n == 0)
        return 1.0f;
    if (e->done)
        return (float)e->after;
    a = e->a[e->idx];
    d = e->b[e->idx] - a;
    if (e->shape[e->idx] == MW_SHAPE_HOLD || d == 0.0)
        return (float)a;
    L = e->length[e->idx];
    mw_ramp_apply(&x, 1, e->shape[e->idx], (double)e->pos, 1.0 / L, a, d, d / L);
    return x;
}

#endif
