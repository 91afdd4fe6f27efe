/* mw_template.h -- the pulse template: one pulse as a piecewise-linear
 * function of the time since its onset.
 *
 * Current is in uA, time in samples.  A pulse is p(tau), tau the time since
 * its onset (hard edges are two breakpoints at the same tau).  Each output
 * sample n is the average of the train over the interval [n, n+1): the
 * integral of p between the two edges of the sample.  That box filter makes
 * a pulse's charge exact whatever its fractional onset or width, and makes
 * hard edges land between samples faithfully.
 *
 * The struct is plain data (filled by microwave._core.Generator); nothing
 * here allocates, and every function may run in the audio thread.
 * tpl_cum runs per sample that an edge or two pulses share: static inline.
 */
#ifndef MW_TEMPLATE_H
#define MW_TEMPLATE_H
#include <stddef.h>
#include <stdint.h>
#include "mw_limits.h"
#include "mw_port.h"

/* how far from a cut a fraction must be for tpl_finish's layouts, as a
 * share of end + 2 (2**-46: see mw_template.lay) */
#define MW_LAY_EPS (1.0 / 70368744177664.0)

enum {
    MW_RECT_FLAT = 8,   /* flat pieces a rectangular template may have for tpl_rect_n's one pass
                         * (more: tpl_render_rect_any, the same bits) */
    MW_RECT_LAYS = 8,   /* fraction intervals of a template's table of layouts (more: no table) */
    MW_LAY_BUCKETS = 256, /* [0, 1) cut in this many buckets for the lookup (a power of 2) */
    MW_LAY_NEAR = 0x80,   /* lay_at: a bucket near one cut (or 0 or 1): interval j or j + 1 */
    MW_LAY_SCAN = 0xff    /* lay_at: a bucket near two cuts or more: all compared */
};

/* Where tpl_rect_n puts a rectangular pulse whose onset is f into its
 * first sample: which samples each flat piece holds whole, and which lie
 * across an edge.  Found by tpl_rect_plan's tests; tpl_rect_write writes a
 * pulse from it.  It is one and the same for every f strictly between two
 * fractions at which a breakpoint falls on a sample boundary (tpl_finish
 * keeps a table of them: see mw_template.lay). */
typedef struct mw_rect_lay {
    int32_t lo[MW_RECT_FLAT], hi[MW_RECT_FLAT];     /* piece r's whole samples: lo[r] .. hi[r] */
    uint8_t edge[MW_RECT_FLAT];                     /* sample lo[r] - 1 lies across the edge before piece r */
    uint8_t tail;       /* sample hi[nflat - 1] + 1 lies across the end */
    uint8_t tail_zero;  /* ... and starts at or after it (0.0f) */
    uint8_t short8;     /* every piece's run is at most 8 samples: one store of 8 each */
    /* the pulse's length L, and the sample indices tpl_rect_write's
     * arithmetic converts, converted once (whole numbers far below 2**53:
     * exact) */
    int32_t L;
    double xe[MW_RECT_FLAT];    /* (double)(lo[r] - 1): the sample across the edge before piece r */
    double xt;                  /* (double)(hi[nflat - 1] + 1): the sample across the end */
} mw_rect_lay;

typedef struct mw_template {
    int nbp;
    double tau[MW_MAX_BP];    /* breakpoints, samples since onset, non-decreasing, tau[0] = 0 */
    double v[MW_MAX_BP];      /* current at each breakpoint, uA; v[0] = v[nbp-1] = 0 */
    double slope[MW_MAX_BP];  /* (v[i+1]-v[i]) / (tau[i+1]-tau[i]), 0 for a vertical edge */
    double cum[MW_MAX_BP];    /* integral of p from 0 to tau[i], uA * samples */
    double end;               /* tau[nbp-1]: the pulse's footprint */
    /* set by tpl_finish: whether every piece is flat or a vertical edge (a
     * rectangular pulse: tpl_render_rect), and the pieces of positive width
     * in order (those that may hold a whole sample; edges hold none) */
    int rect;
    int nflat;
    int flat[MW_MAX_BP];
    double flat_bot[MW_MAX_BP], flat_top[MW_MAX_BP];   /* tau[flat[r]], tau[flat[r] + 1] */
    double flat_cum[MW_MAX_BP], flat_vz[MW_MAX_BP];    /* cum[flat[r]], v + 0.5 * slope * 1.0 (see tpl_render_rect) */
    int flat_adj[MW_MAX_BP];  /* r > 0 and flat_bot[r] == flat_top[r - 1]: no edge of positive width between
                               * (tpl_rect_n converts that sum once, for both) */
    /* set by tpl_finish for a rectangular template of at most MW_RECT_FLAT
     * pieces and an end below 2**16 samples: the layout of a pulse at every
     * fraction f in (0, 1) but those within eps = (end + 2) * MW_LAY_EPS of
     * a cut (a fraction at which a breakpoint x falls on a sample
     * boundary: ceil(x) - x).  Each of tpl_rect_plan's tests (and the
     * caller's L) compares a sum of x, f and whole numbers, all below
     * end + 2, with a whole number or a breakpoint; exactly, the margin is
     * f's distance from x's cut (or from 1 minus it), constant in sign
     * between two cuts; in doubles each test rounds at most three times,
     * by at most (end + 2) * 2**-52 each, so beyond eps (over 16 times
     * their sum) it comes out as the exact test does, as at the interval's
     * middle, where tpl_finish ran it.  The layout is then a lookup
     * (tpl_rect_lay), and tpl_rect_write writes the pulse from it as
     * tpl_rect_n does: the same bits.  nlay = 0: no table. */
    int nlay;
    int ncut;
    double lay_cut[MW_RECT_LAYS];               /* the cuts in (0, 1), ascending, then 2.0:
                                                 * interval j has j cuts <= f */
    double lay_f0[MW_RECT_LAYS], lay_f1[MW_RECT_LAYS];  /* interval j's layout holds for f0 < f < f1 */
    uint8_t lay_at[MW_LAY_BUCKETS];             /* for the bucket [q, q + 1) / MW_LAY_BUCKETS:
                                                 * j if f0 < f < f1 for each of its f; else
                                                 * MW_LAY_NEAR | j if one cut at most lies in
                                                 * it, the one after interval j; else
                                                 * MW_LAY_SCAN */
    mw_rect_lay lay[MW_RECT_LAYS];
    int lay0_ok;                                /* lay0 is the layout at f = 0.0 (an onset on a sample) */
    mw_rect_lay lay0;
} mw_template;

/* Integral of the pulse from its onset to x samples after it, its piece
 * looked for from piece i on (i = 0, or tau[i] <= x: the same piece, the
 * same arithmetic, the same bits as from 0). */
static inline double tpl_cum_from(const mw_template *t, double x, int i)
{
    double d;
    if (x <= 0.0)
        return 0.0;
    if (x >= t->end)
        return t->cum[t->nbp - 1];
    while (t->tau[i + 1] <= x)
        i += 1;
    d = x - t->tau[i];
    return t->cum[i] + d * (t->v[i] + 0.5 * t->slope[i] * d);
}

/* tpl_cum_from(t, x, h[0]) for tau[h[0]] <= x (or h[0] = 0), leaving in h
 * the piece it found: for a run of x that never decreases, each search
 * starts where the last one stopped.  The piece with tau[i] <= x < tau[i+1]
 * is one, found from 0 or from h alike: the same arithmetic, the same bits. */
static inline double tpl_cum_hint(const mw_template *t, double x, int *h)
{
    if (x > 0.0 && x < t->end) {
        while (t->tau[h[0] + 1] <= x)
            h[0] += 1;
    }
    return tpl_cum_from(t, x, h[0]);
}

/* Integral of the pulse from its onset to x samples after it. */
static inline double tpl_cum(const mw_template *t, double x)
{
    return tpl_cum_from(t, x, 0);
}

/* Complete a template whose nbp, tau and v are set: its slopes, its
 * cumulative integral and its end (once, when a generator is built). */
void tpl_finish(mw_template *t);

/* The first L samples of one isolated pulse (scaled by a) whose onset is f
 * into sample 0, in one pass over its pieces (mw_template.c). */
void tpl_render(const mw_template *t, double f, double a, float *dst, int64_t L);

/* dst[lo..hi] = v, in blocks of 8 while they fit in dst[..L) (one for a
 * short phase; samples past hi are written again after, in order) */
static inline void tpl_flat_run(float *dst, int64_t lo, int64_t hi, int64_t L, float v)
{
    int64_t k;
    for (k = lo; k <= hi && k + 8 <= L; k += 8) {
        dst[k] = v; dst[k + 1] = v; dst[k + 2] = v; dst[k + 3] = v;
        dst[k + 4] = v; dst[k + 5] = v; dst[k + 6] = v; dst[k + 7] = v;
    }
    for (; k <= hi; k++)
        dst[k] = v;
}

/* The whole samples [lo, hi] of dst[j..L) inside the piece [bot, top) of
 * a pulse at fraction f: sample k lies inside when k - f >= bot and
 * (k - f) + 1 <= top, both tested in doubles as written (each test is
 * monotone in k, so the samples are one run, found from an estimate and
 * settled by the tests).  0 when there is none.  (tpl_render and
 * tpl_render_rect_any: the same tests, so the same samples.) */
static inline int tpl_whole_samples(double bot, double top, double f, int64_t j, int64_t L,
                                    int64_t *lo_out, int64_t *hi_out)
{
    int64_t lo, hi;
    /* the first sample from j on with tau >= bot */
    lo = (int64_t)(bot + f);
    if (lo < j)
        lo = j;
    while (lo > j && (double)(lo - 1) - f >= bot)
        lo -= 1;
    while (lo < L && !((double)lo - f >= bot))
        lo += 1;
    /* the last sample with tau + 1 <= top */
    hi = (int64_t)(top + f) - 1;
    if (hi >= L)
        hi = L - 1;
    while (hi + 1 < L && ((double)(hi + 1) - f) + 1.0 <= top)
        hi += 1;
    while (hi >= lo && !(((double)hi - f) + 1.0 <= top))
        hi -= 1;
    *lo_out = lo;
    *hi_out = hi;
    return hi >= lo;
}

/* tpl_render for a rectangular template (t->rect), the same bits,
 * for the train's loop over isolated pulses (a sweep's or a custom train's,
 * every pulse at another fraction).  Only the flat pieces of positive width
 * are visited; for each, its whole samples [lo, hi] are found by
 * tpl_render's tests (the same doubles, so the same samples), and the
 * samples before lo are edges: the integral over the sample, with the
 * pieces of both its ends looked for from where the previous edge sample's
 * were found (tpl_cum_hint) instead of from the onset. */
static inline void tpl_render_rect_any(const mw_template *t, double f, double a, float *dst, int64_t L)
{
    int64_t j = 0, lo, hi;
    int r, i, h0 = 0, h1 = 0;
    double bot, top, x;
    float v;
    for (r = 0; r < t->nflat && j < L; r++) {
        i = t->flat[r];
        bot = t->tau[i];
        top = t->tau[i + 1];
        if (!tpl_whole_samples(bot, top, f, j, L, &lo, &hi))
            continue;           /* no whole sample inside this piece */
        for (; j < lo; j++) {   /* before the end: tau < bot <= end */
            x = (double)j - f;
            dst[j] = (float)(a * (tpl_cum_hint(t, x + 1.0, &h1) - tpl_cum_hint(t, x, &h0)));
        }
        v = (float)(t->v[i] * a);
        tpl_flat_run(dst, lo, hi, L, v);
        j = hi + 1;
    }
    for (; j < L; j++) {
        x = (double)j - f;
        if (x >= t->end)
            dst[j] = 0.0f;
        else
            dst[j] = (float)(a * (tpl_cum_hint(t, x + 1.0, &h1) - tpl_cum_hint(t, x, &h0)));
    }
}

/* tpl_render_rect's one pass, its layout: for nf = t->nflat pieces (a
 * constant where it is inlined, so that the loop over them unrolls), the
 * samples of the pulse at fraction f (L of them: L - 1 < f + end <= L),
 * found by the tests below (see tpl_render_rect for why they are
 * tpl_render's); 1 if the one pass applies, 0 if the general loop must
 * render the pulse (p then holds nothing useful).  he and dhe are
 * (int64_t)(f + end) and (double)he, which the caller has. */
static inline int tpl_rect_plan(const mw_template *t, double f, int64_t L, const int nf,
                                int64_t he, double dhe, mw_rect_lay *p)
{
    int64_t lo, hi, e, prev = -1, hr = 0;
    double bot, top, de, dh1 = 0.0, y0 = 0.0;
    int r, c;
    if (nf > MW_RECT_FLAT || L > INT32_MAX)
        return 0;
    MW_UNROLL
    for (r = 0; r < nf; r++) {
        bot = t->flat_bot[r];
        top = t->flat_top[r];
        /* the piece's whole samples [lo, hi] and the start of the sample
         * after it; each sample index converted once (de, dh1: (double)e
         * and (double)(hi + 1); (double)hi and (double)(lo - 1) are those
         * plus or minus 1.0, exactly: whole numbers far below 2**53).
         * The same sums are converted once: the first piece's bot is 0.0
         * (t->rect), so bot + f is 0.0 + f, truncated to 0 for -1 < f < 1;
         * a piece that starts where the one before ends (flat_adj) has the
         * same sum top + f as that one; the last piece's top is the end,
         * and end + f, truncated and converted back, is the caller's he
         * and dhe (f + end, commutative: the same double) */
        if (r == 0 && f > -1.0 && f < 1.0) {
            e = 0;
            de = 0.0;
        } else if (r > 0 && t->flat_adj[r]) {
            e = hr;
            de = dh1;
        } else {
            e = (int64_t)(bot + f);
            de = (double)e;
        }
        c = !(de - f >= bot);
        lo = e + c;
        if (r == nf - 1) {
            hi = he;
            dh1 = dhe;
        } else {
            hi = (int64_t)(top + f);
            dh1 = (double)hi;
        }
        hr = hi;
        hi -= 1;
        y0 = dh1 - f;
        if (!(((dh1 - 1.0) - f) + 1.0 <= top) | (y0 + 1.0 <= top) | (hi < lo) | (lo - prev > 2) | (hi >= L))
            return 0;
        p->lo[r] = (int32_t)lo;
        p->hi[r] = (int32_t)hi;
        p->edge[r] = lo - prev == 2;    /* the one sample across the edge before the piece */
        prev = hi;
    }
    /* after the last piece: none or one sample */
    if (L - prev > 2)
        return 0;
    p->tail = L - prev == 2;
    p->tail_zero = y0 >= t->end;
    p->L = (int32_t)L;
    p->short8 = 1;
    MW_UNROLL
    for (r = 0; r < nf; r++)
        p->short8 &= p->hi[r] - p->lo[r] < 8;
    MW_UNROLL
    for (r = 0; r < nf; r++)
        p->xe[r] = (double)(p->lo[r] - 1);
    p->xt = (double)(prev + 1);
    return 1;
}

/* A rectangular template's constants that tpl_rect_write reads, for nf
 * pieces, copied out of the template once (tpl_rect_consts) so that a loop
 * writing pulse after pulse keeps them in registers. */
typedef struct mw_rect_consts {
    double cum[MW_RECT_FLAT], bot[MW_RECT_FLAT], vz[MW_RECT_FLAT], v[MW_RECT_FLAT];
    double total;               /* cum[nbp - 1]: the whole integral */
} mw_rect_consts;

MW_INLINE mw_rect_consts tpl_rect_consts(const mw_template *t, const int nf)
{
    mw_rect_consts k;
    int r;
    MW_UNROLL
    for (r = 0; r < nf && r < MW_RECT_FLAT; r++) {
        k.cum[r] = t->flat_cum[r];
        k.bot[r] = t->flat_bot[r];
        k.vz[r] = t->flat_vz[r];
        k.v[r] = t->v[t->flat[r]];
    }
    k.total = t->cum[t->nbp - 1];
    return k;
}

/* The sample across the edge before piece r (lo[r] - 1) of the pulse at
 * fraction f, amplitude a, laid out by p: see tpl_rect_write. */
MW_INLINE float tpl_rect_edge(const mw_rect_consts *k, const mw_rect_lay *p, double f, double a, int r)
{
    double y = p->xe[r] - f;
    double c0 = r == 0 ? 0.0 : k->cum[r - 1] + (y - k->bot[r - 1]) * k->vz[r - 1];
    return (float)(a * ((k->cum[r] + ((y + 1.0) - k->bot[r]) * k->vz[r]) - c0));
}

/* The pulse at fraction f, amplitude a, laid out by p (tpl_rect_plan's,
 * for the same f, or tpl_finish's table), of the template whose constants
 * kt holds (tpl_rect_consts, for the same nf), written into dst, which has
 * room for room floats: each flat run 8 at a time while they fit (up to 7
 * samples past the piece, which the next piece, or the caller, writes
 * again); a layout whose runs are all at most 8 samples (short8), with
 * room for the pulse and 7 more, by one store of 8 a run.  The sample
 * across the edge before piece r (tpl_rect_edge) is the integral over it:
 * with y = xe[r] - f = (double)(lo[r] - 1) - f, the part in piece r less
 * c0, the integral up to its start in the piece before (0 before the
 * onset; y is also that piece's (double)(hi + 1) - f), and the sample
 * across the end the whole integral less the last piece's c0 at xt. */
static inline void tpl_rect_write(const mw_rect_consts *kt, const mw_rect_lay *p, double f, double a,
                                  float *dst, int64_t room, const int nf)
{
    int64_t k, hi;
    double y, c0;
    float v;
    int r, q;
    if (p->short8 && room >= (int64_t)p->L + 7) {
        /* each run (at most 8 samples) by one store of 8: no loop.  (A
         * loop of its own: one loop testing this per run, which GCC does
         * not unswitch, costs a sweep ~17 more instructions a pulse) */
        MW_UNROLL
        for (r = 0; r < nf; r++) {
            if (p->edge[r])
                dst[p->lo[r] - 1] = tpl_rect_edge(kt, p, f, a, r);
            v = (float)(kt->v[r] * a);
            k = p->lo[r];
            for (q = 0; q < 8; q++)
                dst[k + q] = v;
        }
    } else
    MW_UNROLL
    for (r = 0; r < nf; r++) {
        if (p->edge[r])
            dst[p->lo[r] - 1] = tpl_rect_edge(kt, p, f, a, r);
        v = (float)(kt->v[r] * a);
        hi = p->hi[r];
        for (k = p->lo[r]; k <= hi && k + 8 <= room; k += 8)
            for (q = 0; q < 8; q++)
                dst[k + q] = v;
        for (; k <= hi; k++)
            dst[k] = v;
    }
    if (p->tail) {
        y = p->xt - f;
        c0 = kt->cum[nf - 1] + (y - kt->bot[nf - 1]) * kt->vz[nf - 1];
        dst[p->hi[nf - 1] + 1] = p->tail_zero ? 0.0f : (float)(a * (kt->total - c0));
    }
}

/* The layout of tpl_finish's table for fraction f, or NULL (no table, or
 * f within its eps of a cut but not 0.0, or outside [0, 1)).  f *
 * MW_LAY_BUCKETS is exact (a power of 2), so its truncation is f's
 * bucket; a bucket inside one interval names it, one near a cut names
 * the interval before it (f is compared with that cut), and only one
 * near two cuts or more has f compared with them all. */
static inline const mw_rect_lay *tpl_rect_lay(const mw_template *t, double f)
{
    int k, j;
    if (t->nlay == 0 || !(f >= 0.0 && f < 1.0))
        return NULL;
    j = t->lay_at[(int)(f * MW_LAY_BUCKETS)];
    if (j < MW_LAY_NEAR)
        return &t->lay[j];
    if (j != MW_LAY_SCAN) {
        j -= MW_LAY_NEAR;
        j += f >= t->lay_cut[j];        /* 2.0 past the last cut */
    } else {
        for (j = k = 0; k < t->ncut; k++)
            j += f >= t->lay_cut[k];
    }
    if (f > t->lay_f0[j] && f < t->lay_f1[j])
        return &t->lay[j];
    return f == 0.0 && t->lay0_ok ? &t->lay0 : NULL;
}

/* tpl_render_rect's one pass with nf = t->nflat: 1 if it wrote the pulse,
 * 0 if the general loop must (dst untouched). */
static inline int tpl_rect_n(const mw_template *t, double f, double a, float *dst, int64_t L,
                             int64_t room, const int nf, int64_t he, double dhe)
{
    mw_rect_lay p;
    const mw_rect_lay *lay = tpl_rect_lay(t, f);
    if (lay == NULL || lay->L != L) {   /* (the table's are for the pulse's own L; a caller may ask for more) */
        if (!tpl_rect_plan(t, f, L, nf, he, dhe, &p))
            return 0;
        lay = &p;
    }
    mw_rect_consts k = tpl_rect_consts(t, nf);
    tpl_rect_write(&k, lay, f, a, dst, room, nf);
    return 1;
}

/* tpl_render_rect_any where every flat piece holds a whole sample and at
 * most one sample lies across each edge: the common pulse, in one pass
 * with no search (else tpl_render_rect_any).  dst has room for room >= L
 * floats: a flat run may be written past L up to room (the caller writes
 * those samples again); room = L writes nothing past L.
 *
 * Why the samples are tpl_render's, bit for bit.  With x0(j) = (double)j - f
 * and x1(j) = x0(j) + 1.0 (both non-decreasing in j, and x1(j) < x1(j+1)),
 * piece r = [bot, top) holds the samples with x0 >= bot and x1 <= top:
 *  - lo, the first: with e = floor(bot + f) (the sum in doubles), bot + f
 *    <= e + 1 exactly, so x0(e + 1) >= bot; and bot + f > e - 1/2 so
 *    x0(e - 1) < bot (the gap is ~1, far above an ulp at these sizes):
 *    lo = e + (x0(e) < bot), which is what tpl_render's searches find.
 *  - hi, the last: with e = floor(top + f) - 1 the test x1 <= top is made
 *    at e and e + 1; unless it holds at e and fails at e + 1 (hi = e) the
 *    general loop takes the pulse (rare: top + f within an ulp or so of a
 *    whole number).
 * The one sample j between piece r-1 and piece r (lo_r = hi_{r-1} + 2) has
 * bot_{r-1} <= x0(j) < bot_r (j is past lo_{r-1}, before lo_r), x0(j) > 0
 * (j >= 1), and top_{r-1} < x1(j) < x1(hi_r) <= top_r: tpl_cum's search
 * would find piece flat[r-1] for x0 and flat[r] for x1.  Its arithmetic
 * there is cum[i] + d * (v[i] + 0.5 * slope[i] * d) with d = x - tau[i] >= 0
 * and slope[i] a zero: the sum in brackets is v[i] + 0.5 * slope[i] * 1.0,
 * a zero of slope's sign added to v[i] (flat_vz, so -0 + +0 stays +0), and
 * the integral is flat_cum + d * flat_vz.  Before the first piece (bot = 0)
 * only sample 0 may lie across the onset, x0 = -f <= 0 (tpl_cum gives 0.0)
 * and x1 in piece 0; after the last (top = end) only sample hi + 1, with
 * x1 > end (tpl_cum gives cum[nbp-1]) and x0 in the last piece unless
 * x0 >= end (tpl_edges writes 0.0f).  A pulse found otherwise on the way
 * is written again by the general loop, all of it. */
static inline void tpl_render_rect(const mw_template *t, double f, double a, float *dst, int64_t L, int64_t room)
{
    int ok;
    int64_t he = (int64_t)(f + t->end);
    double dhe = (double)he;
    switch (t->nflat) {
    case 1: ok = tpl_rect_n(t, f, a, dst, L, room, 1, he, dhe); break;
    case 2: ok = tpl_rect_n(t, f, a, dst, L, room, 2, he, dhe); break;      /* biphasic */
    case 3: ok = tpl_rect_n(t, f, a, dst, L, room, 3, he, dhe); break;      /* ... with a gap */
    default: ok = t->nflat > 0 && tpl_rect_n(t, f, a, dst, L, room, t->nflat, he, dhe); break;
    }
    if (!ok)
        tpl_render_rect_any(t, f, a, dst, L);
}

#endif
