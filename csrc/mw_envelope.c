/* mw_envelope.c -- the envelope's block loops (see mw_envelope.h). */
#include "mw_envelope.h"
#include "mw_shapes.h"

/* o[j] *= a + d * shape((b + j) * inv) for j < n (linear: a + slope * (b + j)) */
MW_CLONES void mw_ramp_apply(float *o, ptrdiff_t n, int shape, double b, double inv, double a, double d,
                             double slope)
{
    /* a ptrdiff_t index: with an int one, under Python's -fwrapv, GCC 12
     * leaves the AVX2 clone scalar (it cannot prove the index never wraps) */
    ptrdiff_t j;
    if (shape == MW_SHAPE_LINEAR) {
        for (j = 0; j < n; j++) o[j] = o[j] * (float)(a + slope * (b + (double)j));
    } else if (shape == MW_SHAPE_COSINE) {
        for (j = 0; j < n; j++) o[j] = o[j] * (float)(a + d * mw_shape_cosine((b + (double)j) * inv));
    } else {
        for (j = 0; j < n; j++) o[j] = o[j] * (float)(a + d * mw_shape_exp((b + (double)j) * inv));
    }
}

static inline void scale(float *out, ptrdiff_t m, double level)
{
    ptrdiff_t j;
    float g = (float)level;
    if (level == 1.0)
        return;
    if (level == 0.0) {
        for (j = 0; j < m; j++)
            out[j] = 0.0f;
        return;
    }
    for (j = 0; j < m; j++)
        out[j] = out[j] * g;
}

/* out[j] *= the level at position p0 + j of a segment of L samples that
 * goes from a to a + d with shape sh (linear, cosine or exp): every sample
 * (no branch), by mw_ramp_apply (vectorised).  b + j is exact (integers
 * below 2**53), so a level depends only on its position, never on where a
 * block starts. */
static inline void ramp(float *out, ptrdiff_t m, int64_t p0, int64_t L, int sh, double a, double d)
{
    mw_ramp_apply(out, m, sh, (double)p0, 1.0 / L, a, d, d / L);
}

void env_apply(mw_envelope *e, float *out, ptrdiff_t N)
{
    ptrdiff_t pos = 0, m;
    int64_t L;
    double a, d;
    while (pos < N) {
        if (e->done) {
            scale(out + pos, N - pos, e->n > 0 ? e->after : 1.0);
            return;
        }
        L = e->length[e->idx];
        m = N - pos;
        if (L - e->pos < m)
            m = L - e->pos;
        a = e->a[e->idx];
        d = e->b[e->idx] - a;
        if (e->shape[e->idx] == MW_SHAPE_HOLD || d == 0.0)
            scale(out + pos, m, a);
        else
            ramp(out + pos, m, e->pos, L, e->shape[e->idx], a, d);
        pos += m;
        e->pos += m;
        if (e->pos == L)
            env_next(e);
    }
}
