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
#include <stdint.h>
#include "mw_limits.h"

typedef struct mw_template {
    int nbp;
    double tau[MW_MAX_BP];    /* breakpoints, samples since onset, non-decreasing, tau[0] = 0 */
    double v[MW_MAX_BP];      /* current at each breakpoint, uA; v[0] = v[nbp-1] = 0 */
    double slope[MW_MAX_BP];  /* (v[i+1]-v[i]) / (tau[i+1]-tau[i]), 0 for a vertical edge */
    double cum[MW_MAX_BP];    /* integral of p from 0 to tau[i], uA * samples */
    double end;               /* tau[nbp-1]: the pulse's footprint */
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

#endif
