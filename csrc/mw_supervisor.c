/* mw_supervisor.c -- see mw_supervisor.h for the model and the bounds. */
#include <math.h>
#include <stddef.h>
#include "mw_supervisor.h"

#define MW_PI 3.14159265358979323846

/* Steps of at most MW_SUP_STEP from 1 to `ratio` (>= 1). */
static int steps_to(double ratio)
{
    int n = 0;
    double r = 1.0;
    while (r * (1.0 + 1e-12) < ratio) {
        r *= MW_SUP_STEP;
        n++;
    }
    return n;
}

int mw_sup_corners(double corner_hz, double pair_hz, double lo_hz, double hi_hz, double* f)
{
    /* below corner_hz, between it and pair_hz (the second nominal corner, a
     * bridged pair's: none if equal), above pair_hz */
    int below = steps_to(corner_hz / lo_hz), mid = steps_to(pair_hz / corner_hz), above = steps_to(hi_hz / pair_hz);
    int k, n;
    /* (a range within rounding of one corner is that corner: no copies of it;
     * a side within rounding of nothing, as steps_to takes it, gets none: no copies) */
    const int room_below = lo_hz * (1.0 + 1e-12) < corner_hz, room_above = pair_hz * (1.0 + 1e-12) < hi_hz;
    while (below + mid + above + 1 < MW_SUP_MIN_K && hi_hz > lo_hz * (1.0 + 1e-9)) {
        if (room_below && (below <= above || !room_above))
            below++;
        else if (room_above)
            above++;
        else
            mid++;      /* lo_hz at corner_hz, pair_hz at hi_hz: room only between them */
    }
    n = below + mid + above + 1;
    if (f == NULL || n > MW_SUP_K)
        return n;
    /* slowest first: lo_hz .. corner_hz (below steps), .. pair_hz (mid), .. hi_hz (above), each
     * nominal corner exactly */
    for (k = 0; k < n; k++)
        f[k] = k < below ? corner_hz * pow(lo_hz / corner_hz, (double)(below - k) / below)
             : k == below ? corner_hz
             : k < below + mid ? corner_hz * pow(pair_hz / corner_hz, (double)(k - below) / mid)
             : k == below + mid ? pair_hz
             : pair_hz * pow(hi_hz / pair_hz, (double)(k - below - mid) / above);
    return n;
}

int mw_sup_init(mw_sup* s, double corner_hz, double pair_hz, double lo_hz, double hi_hz, double rate,
                double limit_ua, double bleed_fraction)
{
    int k;
    double cmin = 1.0;
    if (!(0.0 < lo_hz && lo_hz <= corner_hz && corner_hz <= pair_hz && pair_hz <= hi_hz && hi_hz < INFINITY))
        return -1;
    k = mw_sup_corners(corner_hz, pair_hz, lo_hz, hi_hz, s->f);    /* (writes them only if they fit) */
    if (k > MW_SUP_K)
        return -1;
    s->k = k;
    s->nominal = 0;
    s->nominal_pair = -1;
    for (k = 0; k < s->k; k++) {
        if (s->f[k] == corner_hz)
            s->nominal = k;
        if (s->f[k] == pair_hz)
            s->nominal_pair = k;
        s->d[k] = exp(-2.0 * MW_PI * s->f[k] / rate);
        s->c[k] = 1.0 - s->d[k];
        s->inv_c[k] = 1.0 / s->c[k];
        if (s->c[k] < cmin)
            cmin = s->c[k];
    }
    if (s->nominal_pair < 0)
        s->nominal_pair = s->nominal;   /* pair_hz within rounding of corner_hz: the same corner */
    s->moving = 0;
    s->limit = limit_ua;
    s->between_ua = 0.0;
    s->pre_ring = 0.0;
    /* while bleeding, a drive falling by `bleed` a sample makes a current of
     * at most bleed / (1 - d) <= bleed_fraction * L through every corner */
    s->bleed = bleed_fraction * limit_ua * cmin;
    s->clamped = 0;
    s->tight = 0;
    s->peak[0] = s->peak[1] = s->peak[2] = s->peak[3] = 0.0;
    s->peak_pre = 0.0;
    s->worst = 0.0;
    s->worst_at = -1;
    s->worst_what = s->worst_corner = s->worst_channel = -1;
    s->over_at = -1;
    s->over_what = s->over_channel = -1;
    return 0;
}

int mw_sup_settled(const mw_sup_ch* ch)
{
    return ch->x == 0.0;
}

int mw_sup_drained(const mw_sup* s, const mw_sup_ch* ch)
{
    const double most = MW_SUP_RESTART * (ch->rail < s->limit ? ch->rail : s->limit);
    int k;
    if (ch->x != 0.0)
        return 0;
    for (k = 0; k < s->k; k++) {
        if (fabs(ch->q[k]) > most)
            return 0;
    }
    if (s->moving && (fabs(ch->v[0]) > most || fabs(ch->v[1]) > most))
        return 0;
    return 1;
}

/* One measured quantity a (uA-eq) of kind `what`, for corner k, against its bound. */
static void note(mw_sup* s, double a, double bound, int what, int k, double* worst, int* w_what, int* w_corner)
{
    double r = a / bound;
    if (a > s->peak[what])
        s->peak[what] = a;
    if (r > *worst) {
        *worst = r;
        *w_what = what;
        *w_corner = k;
    }
}

/* A moving corner: where the least (upper = 0) or the most (upper = 1)
 * charge v goes after a sample of drive x (see the header). */
static inline double moved(const mw_sup* s, double v, double x, int upper)
{
    return x + (v - x) * ((upper ? v >= x : v <= x) ? s->d[0] : s->d[s->k - 1]);   /* the slowest, the fastest */
}

/* measure: |a - q_nom(p)| at the worst sample p a hold may have started at,
 * the farther of the least and the most nominal charge so far */
static inline double after_any_hold(const mw_sup_ch* ch, double a)
{
    const double lo = fabs(a - ch->lo), hi = fabs(a - ch->hi);
    return lo > hi ? lo : hi;
}

/* The worst ratio at one sample, played through or played on after a hold
 * at any sample before (see the header): lo, hi and gap are the channel's. */
static void measure(mw_sup* s, const mw_sup_ch* ch, const double* q, const double* v, int channel, double x,
                    int64_t at)
{
    int k, what = -1, corner = -1;
    double worst = 0.0, a;
    /* the drive itself (what flows if the card is in fact DC-coupled), and
     * against the DAC's swing: less q_nom(p) after a hold at p */
    a = after_any_hold(ch, x);
    note(s, a, ch->rail, MW_SUP_RAIL, -1, &worst, &what, &corner);
    note(s, a, s->limit, MW_SUP_DRIVE, -1, &worst, &what, &corner);
    for (k = 0; k < s->k; k++) {
        note(s, fabs(x - q[k]) + ch->gap[k], s->limit, MW_SUP_CURRENT, k, &worst, &what, &corner);
        a = after_any_hold(ch, s->c[k] * x + s->d[k] * q[k]);
        note(s, a + s->d[k] * ch->gap[k], s->limit, MW_SUP_STORED, k, &worst, &what, &corner);
    }
    for (k = 0; s->moving && k < 2; k++) {     /* a moving corner (corner -2): no gap (see the header) */
        note(s, fabs(x - v[k]), s->limit, MW_SUP_CURRENT, -2, &worst, &what, &corner);
        note(s, after_any_hold(ch, moved(s, v[k], x, k)), s->limit, MW_SUP_STORED, -2, &worst, &what, &corner);
    }
    if (worst > s->worst) {
        s->worst = worst;
        s->worst_at = at;
        s->worst_what = what;
        s->worst_corner = corner;
        s->worst_channel = channel;
    }
    if (worst > 1.0 && (s->over_at < 0 || at < s->over_at)) {     /* (the channels of a chunk take turns) */
        s->over_at = at;
        s->over_what = what;
        s->over_channel = channel;
    }
}

/* measure: sample p may be where a hold starts (see the header) */
static void held_here(const mw_sup* s, mw_sup_ch* ch, const double* q)
{
    const double qn = q[ch->nominal];
    double g;
    int k;
    ch->lo = qn < ch->lo ? qn : ch->lo;
    ch->hi = qn > ch->hi ? qn : ch->hi;
    for (k = 0; k < s->k; k++) {
        g = fabs(q[k] - qn);
        ch->gap[k] *= s->d[k];
        ch->gap[k] = g > ch->gap[k] ? g : ch->gap[k];
    }
}

void mw_sup_run(mw_sup* s, mw_sup_ch* ch, int channel, float* buf, int64_t n, int64_t t0, int bleed)
{
    const int K = s->k;
    const double L = s->limit, rail = ch->rail, g = ch->gain, inv_g = 1.0 / ch->gain;
    /* |x| is bounded by the rail and by L (a card that is in fact DC-coupled
     * passes the drive itself) */
    const double swing = rail < L ? rail : L;
    const double soft_L = MW_SUP_SOFT * L, soft_swing = MW_SUP_SOFT * swing;
    double x = ch->x, xb = ch->xb, aim, lo, hi, b, r, pre = 0.0, Lb, a, qmax = 0.0;
    double q[MW_SUP_K], v[2];
    const int V = s->moving ? 2 : 0;       /* a moving corner's two bounds, or none */
    const int nom = ch->nominal;           /* the corner this channel's pre-emphasis inverts */
    int64_t i;
    int k;
    for (k = 0; k < K; k++) {
        q[k] = ch->q[k];
        qmax = fabs(q[k]) > qmax ? fabs(q[k]) : qmax;
    }
    v[0] = ch->v[0];
    v[1] = ch->v[1];
    for (k = 0; k < V; k++)
        qmax = fabs(v[k]) > qmax ? fabs(v[k]) : qmax;
    for (i = 0; i < n; i++) {
        if (bleed) {
            /* from the drive as worked out (xb), not as the DAC's float
             * rounded it (x): a step below half a float's resolution at x
             * (a slow corner at a high rate) is rounded away from x, and the
             * drive would never reach zero; from xb the rounded drive follows
             * the bleed within that half step, one float step now and then */
            b = xb > s->bleed ? s->bleed : (xb < -s->bleed ? -s->bleed : xb);
            aim = xb - b;
        } else {
            /* the pre-emphasis: what the declared corner needs for y = asked */
            aim = (double)buf[i] + q[nom];
        }
        if (s->measure) {
            held_here(s, ch, q);
            measure(s, ch, q, v, channel, aim, t0 + i);
            /* the pre-emphasis (played on after a hold too), or the drive a bleed cuts */
            b = bleed ? fabs(aim) : after_any_hold(ch, q[nom]);
            s->peak_pre = b > s->peak_pre ? b : s->peak_pre;
            x = aim;
        } else {
            /* the bound the clamp keeps: L less the room for what the
             * current rings between samples (see the header), but never
             * below what x = 0 needs (the stored charge, qmax), so that the
             * interval stays non-empty */
            pre = bleed ? fabs(x) : fabs(q[nom]);
            Lb = L - s->between_ua - s->pre_ring * pre;
            Lb = qmax > Lb ? qmax : Lb;
            Lb = Lb < L ? Lb : L;
            lo = swing < Lb ? -swing : -Lb;
            hi = -lo;
            for (k = 0; k < K; k++) {
                /* the current now: |x - q_k| <= Lb */
                b = q[k] - Lb;
                lo = b > lo ? b : lo;
                b = q[k] + Lb;
                hi = b < hi ? b : hi;
                /* an abrupt zero next: |c_k x + d_k q_k| <= Lb */
                b = (-Lb - s->d[k] * q[k]) * s->inv_c[k];
                lo = b > lo ? b : lo;
                b = (Lb - s->d[k] * q[k]) * s->inv_c[k];
                hi = b < hi ? b : hi;
            }
            for (k = 0; k < V; k++) {
                /* a moving corner's current now: |x - v| <= Lb for v in [v0, v1] */
                b = v[k] - Lb;
                lo = b > lo ? b : lo;
                b = v[k] + Lb;
                hi = b < hi ? b : hi;
            }
            x = aim == aim ? aim : 0.0;   /* a NaN never reaches the DAC */
            if (x < lo) {
                x = lo;
                s->clamped++;
            } else if (x > hi) {
                x = hi;
                s->clamped++;
            }
        }
        /* what the DAC is given, and so what the coupling really sees; in
         * the same pass over the corners, what the soft bound measures
         * (the current now, |x - q_k|, and what an abrupt zero would bring
         * next, |c_k x + d_k q_k|: the next sample's stored charge) and the
         * largest stored charge, the clamp's floor at the next sample */
        xb = x;
        buf[i] = (float)(x * g);
        x = (double)buf[i] * inv_g;
        r = fabs(x);
        qmax = 0.0;
        for (k = 0; k < K; k++) {
            b = fabs(x - q[k]);
            q[k] = s->c[k] * x + s->d[k] * q[k];
            a = fabs(q[k]);
            r = b > r ? b : r;
            r = a > r ? a : r;
            qmax = a > qmax ? a : qmax;
        }
        for (k = 0; k < V; k++) {
            b = fabs(x - v[k]);
            v[k] = moved(s, v[k], x, k);
            a = fabs(v[k]);
            r = b > r ? b : r;
            r = a > r ? a : r;
            qmax = a > qmax ? a : qmax;
        }
        /* closer than `soft` to a bound, between samples too: the session
         * must lower its level (the gain of the units to come), before the
         * clamp has to.  (The rail is the DAC's swing, not a current: no
         * room for ringing.) */
        if (!s->measure)
            s->tight += r + s->between_ua + s->pre_ring * pre > soft_L || fabs(x) > soft_swing;
    }
    ch->x = x;
    ch->xb = xb;
    for (k = 0; k < K; k++)
        ch->q[k] = q[k];
    ch->v[0] = v[0];
    ch->v[1] = v[1];
}
