/* mw_template.c -- rendering one isolated pulse (see mw_template.h). */
#include "mw_template.h"

void tpl_finish(mw_template *t)
{
    int i;
    t->cum[0] = 0.0;
    for (i = 0; i < t->nbp - 1; i++) {
        t->slope[i] = t->tau[i + 1] == t->tau[i] ? 0.0 : (t->v[i + 1] - t->v[i]) / (t->tau[i + 1] - t->tau[i]);
        t->cum[i + 1] = t->cum[i] + 0.5 * (t->v[i] + t->v[i + 1]) * (t->tau[i + 1] - t->tau[i]);
    }
    t->slope[t->nbp - 1] = 0.0;
    t->end = t->tau[t->nbp - 1];
    t->rect = 1;
    t->nflat = 0;
    for (i = 0; i < t->nbp - 1; i++) {
        if (t->slope[i] != 0.0)
            t->rect = 0;
        else if (t->tau[i + 1] > t->tau[i]) {
            t->flat_bot[t->nflat] = t->tau[i];
            t->flat_top[t->nflat] = t->tau[i + 1];
            t->flat_cum[t->nflat] = t->cum[i];
            t->flat_vz[t->nflat] = t->v[i] + 0.5 * t->slope[i] * 1.0;
            t->flat_adj[t->nflat] = t->nflat > 0 && t->tau[i] == t->flat_top[t->nflat - 1];
            t->flat[t->nflat++] = i;
        }
    }
    /* tpl_render_rect needs a piece, the first from the onset (tau[0] = 0)
     * and the last to the end (as every template has them) */
    if (t->nflat == 0 || t->flat_bot[0] != 0.0 || t->flat_top[t->nflat - 1] != t->end)
        t->rect = 0;
}

/* Sample j covers tau = j - f .. tau + 1 of the pulse's time.  It lies
 * inside piece i when tau[i] <= tau and tau + 1 <= tau[i+1] (both tests in
 * doubles, as written; each is monotone in j, so a piece's inside samples
 * are one run, found from an estimate, then settled by the tests).  An
 * inside sample holds the piece's flat value, or the value at its middle on
 * a linear piece; a sample inside no piece (an edge or a joint between
 * pieces, or before the onset) is the integral over it; after the pulse,
 * zero.  These are train_fill's sample-run cases with its arithmetic, so
 * the same bits, but found piece by piece instead of sample by sample. */
static inline void tpl_edges(const mw_template *t, double f, double a, float *dst, int64_t j, int64_t stop, int i)
{
    double tau;
    for (; j < stop; j++) {
        tau = (double)j - f;
        if (tau >= t->end)
            dst[j] = 0.0f;
        else            /* i = 0, or tau[i] <= tau: the piece of tau is found from i on */
            dst[j] = (float)(a * (tpl_cum_from(t, tau + 1.0, i) - tpl_cum_from(t, tau, i)));
    }
}

void tpl_render(const mw_template *t, double f, double a, float *dst, int64_t L)
{
    int64_t j = 0, lo, hi, k;
    int i, edge_i = 0;
    double top;
    float v;
    if (t->rect) {
        tpl_render_rect(t, f, a, dst, L, L);
        return;
    }
    for (i = 0; i + 1 < t->nbp && j < L; i++) {
        top = t->tau[i + 1];
        if (!(top > t->tau[i]))
            continue;           /* a vertical edge: holds no sample */
        if (!tpl_whole_samples(t->tau[i], top, f, j, L, &lo, &hi))
            continue;           /* no whole sample inside this piece */
        tpl_edges(t, f, a, dst, j, lo, edge_i);
        if (t->slope[i] == 0.0) {
            v = (float)(t->v[i] * a);
            tpl_flat_run(dst, lo, hi, L, v);
        } else {
            for (k = lo; k <= hi; k++)
                dst[k] = (float)(a * (t->v[i] + t->slope[i] * ((((double)k - f)) + 0.5 - t->tau[i])));
        }
        j = hi + 1;
        edge_i = i;             /* tau[i] <= the tau of every later sample */
    }
    tpl_edges(t, f, a, dst, j, L, edge_i);
}
