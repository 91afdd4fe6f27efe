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
#include "mw_shapes.h"

typedef struct mw_envelope {
    int n;                        /* segments; 0 = no envelope (unity) */
    int loop;
    int64_t length[MW_MAX_SEGS];  /* samples, > 0 */
    int shape[MW_MAX_SEGS];       /* MW_SHAPE_* */
    double a[MW_MAX_SEGS];        /* level at the start of the segment */
    double b[MW_MAX_SEGS];        /* level it reaches at the end */
    double after;                 /* level once a non-looping envelope has ended */
    /* derived by env_reset from the above (the values the level's arithmetic
     * divided out on every call): 1 / length, (b - a) / length, the loop's
     * length, b - a and whether the level is flat (a hold, or b == a); a
     * unit's gain is taken often (every pulse), a segment set once */
    double inv[MW_MAX_SEGS];
    double d[MW_MAX_SEGS];
    int flat[MW_MAX_SEGS];
    double slope[MW_MAX_SEGS];
    int64_t cycle;
    /* running state */
    int idx;
    int64_t pos;
    int done;
} mw_envelope;

/* o[j] *= a + d * shape((b + j) * inv) for j < n (linear: a + slope * (b + j));
 * shape is MW_SHAPE_LINEAR, _COSINE or _EXP */
void mw_ramp_apply(float *o, ptrdiff_t n, int shape, double b, double inv, double a, double d, double slope);

/* Multiply the next N samples of out by the envelope. */
void env_apply(mw_envelope *e, float *out, ptrdiff_t N);

static inline void env_reset(mw_envelope *e)
{
    int i;
    e->cycle = 0;
    for (i = 0; i < e->n; i++) {
        e->inv[i] = 1.0 / e->length[i];
        e->d[i] = e->b[i] - e->a[i];
        e->slope[i] = e->d[i] / e->length[i];
        e->flat[i] = e->shape[i] == MW_SHAPE_HOLD || e->d[i] == 0.0;
        e->cycle += e->length[i];
    }
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
    int64_t r;
    if (e->done)
        return;
    if (k < e->length[e->idx] - e->pos) {
        /* within the segment: the common case (a pulse's gain, a block) */
        e->pos += k > 0 ? k : 0;
        return;
    }
    if (e->loop && k > 2 * e->cycle)       /* whole loops change nothing */
        k -= (k / e->cycle - 1) * e->cycle;
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
 * (the same arithmetic: the same bits).  It runs once a unit, so it is
 * mw_ramp_apply's expression for one sample written out here (j = 0:
 * b + 0.0 is b, pos >= 0) rather than a call of the vector loop for one
 * element; the IEEE operations, their order and the divisions' values
 * (env_reset) are the same. */
static inline float env_level_at(const mw_envelope *e, int64_t pos);

static inline float env_level(const mw_envelope *e)
{
    if (e->n == 0)
        return 1.0f;
    if (e->done)
        return (float)e->after;
    return env_level_at(e, e->pos);
}

/* The level at position pos (< its length) of the current segment of an
 * envelope that is running: env_level's arithmetic at another position
 * (a run of units in one segment, mw_program.c). */
static inline float env_level_at(const mw_envelope *e, int64_t pos)
{
    float x = 1.0f;
    int i, sh;
    double a, d, b;
    i = e->idx;
    a = e->a[i];
    if (e->flat[i])
        return (float)a;
    sh = e->shape[i];
    d = e->d[i];
    b = (double)pos;
    if (sh == MW_SHAPE_LINEAR)
        return x * (float)(a + e->slope[i] * b);
    if (sh == MW_SHAPE_COSINE)
        return x * (float)(a + d * mw_shape_cosine(b * e->inv[i]));
    return x * (float)(a + d * mw_shape_exp(b * e->inv[i]));
}

/* o[k] = env_level_at(e, pos + k * step) * gl for k < K (every position in
 * the current segment, below 2**53), the positions counted in double
 * (whole numbers below 2**53: exact, the same values), a loop a shape so
 * that it vectorises where it is built for AVX2 (mw_program.c's runs). */
static inline void env_levels(const mw_envelope *e, int64_t pos, int64_t step, int K, float gl, float *o)
{
    const float x = 1.0f;
    const int i = e->idx, sh = e->shape[i];
    const double a = e->a[i], d = e->d[i], inv = e->inv[i], slope = e->slope[i];
    const double b0 = (double)pos, st = (double)step;
    int k;                      /* (an int: its conversion to double vectorises) */
    float v;
    if (e->flat[i]) {
        v = (float)a * gl;
        for (k = 0; k < K; k++)
            o[k] = v;
    } else if (sh == MW_SHAPE_LINEAR) {
        for (k = 0; k < K; k++)
            o[k] = x * (float)(a + slope * (b0 + (double)k * st)) * gl;
    } else if (sh == MW_SHAPE_COSINE) {
        for (k = 0; k < K; k++)
            o[k] = x * (float)(a + d * mw_shape_cosine((b0 + (double)k * st) * inv)) * gl;
    } else {
        for (k = 0; k < K; k++)
            o[k] = x * (float)(a + d * mw_shape_exp((b0 + (double)k * st) * inv)) * gl;
    }
}

#endif
