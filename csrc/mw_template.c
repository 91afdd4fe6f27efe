/* mw_template.c -- rendering one isolated pulse (see mw_template.h). */
#include <math.h>
#include "mw_template.h"

/* the layout at fraction f, by tpl_rect_plan itself (with the caller's L) */
static int tpl_plan_at(mw_template *t, double f, mw_rect_lay *p)
{
    int64_t he = (int64_t)(f + t->end);
    int64_t L = he + ((double)he < f + t->end);
    return tpl_rect_plan(t, f, L, t->nflat, he, (double)he, p);
}

/* tpl_finish's table of layouts (see mw_template.lay): the cuts, then each
 * interval's layout, found at its middle, the one at 0.0, and the buckets. */
static void tpl_plan_layouts(mw_template *t)
{
    double cut[2 * MW_MAX_BP], x, b, lo, hi, eps = (t->end + 2.0) * MW_LAY_EPS;
    int n = 0, r, k, j, i, jlo, jhi;
    t->nlay = 0;
    t->ncut = 0;
    t->lay0_ok = 0;
    if (!t->rect || t->nflat > MW_RECT_FLAT || !(t->end < 65536.0))
        return;
    for (r = 0; r < t->nflat; r++) {
        for (k = 0; k < 2; k++) {
            x = k ? t->flat_top[r] : t->flat_bot[r];
            b = ceil(x) - x;            /* in [0, 1): x + b is whole */
            if (b > 0.0)
                cut[n++] = b;
        }
    }
    /* ascending, each once */
    for (i = 1; i < n; i++)
        for (k = i; k > 0 && cut[k] < cut[k - 1]; k--) {
            b = cut[k];
            cut[k] = cut[k - 1];
            cut[k - 1] = b;
        }
    for (i = k = 0; i < n; i++)
        if (k == 0 || cut[i] != cut[k - 1])
            cut[k++] = cut[i];
    n = k;
    if (n + 1 > MW_RECT_LAYS)
        return;
    for (j = 0; j < MW_RECT_LAYS; j++)
        t->lay_cut[j] = j < n ? cut[j] : 2.0;
    for (j = 0; j <= n; j++) {
        lo = j == 0 ? 0.0 : cut[j - 1];
        hi = j == n ? 1.0 : cut[j];
        t->lay_f0[j] = lo + eps;
        t->lay_f1[j] = hi - eps;
        if (!(t->lay_f0[j] < t->lay_f1[j]) || !tpl_plan_at(t, 0.5 * (lo + hi), &t->lay[j])) {
            t->lay_f0[j] = 1.0;         /* no f: tpl_rect_n finds each pulse's own */
            t->lay_f1[j] = 0.0;
        }
    }
    t->ncut = n;
    t->nlay = n + 1;
    t->lay0_ok = tpl_plan_at(t, 0.0, &t->lay0);
    /* the buckets: the intervals of their first and last f.  A bucket's
     * entry need not be exact but where it names an interval outright:
     * otherwise tpl_rect_lay returns a layout only for an f it finds
     * inside one (f0 < f < f1), by the test every lookup ends with */
    for (k = 0; k < MW_LAY_BUCKETS; k++) {
        lo = (double)k / MW_LAY_BUCKETS;
        hi = (double)(k + 1) / MW_LAY_BUCKETS;
        for (jlo = 0; jlo < n && cut[jlo] <= lo; jlo++)
            ;
        for (jhi = jlo; jhi < n && cut[jhi] < hi; jhi++)
            ;
        if (jlo == jhi && t->lay_f0[jlo] < lo && hi <= t->lay_f1[jlo])
            t->lay_at[k] = (uint8_t)jlo;
        else if (jhi - jlo <= 1)
            t->lay_at[k] = (uint8_t)(MW_LAY_NEAR | jlo);
        else
            t->lay_at[k] = MW_LAY_SCAN;
    }
}

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
    tpl_plan_layouts(t);
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
