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
}

/* The first L samples of one isolated pulse (scaled by a) whose onset
 * is f into sample 0, in one pass over its pieces: sample j covers
 * tau = j - f .. tau + 1 of the pulse's time and holds the flat value
 * inside a flat piece, the middle's value inside a linear piece, zero
 * after the pulse, else the integral -- the same cases and arithmetic
 * as train_fill's sample-run path, so the same bits. */
void tpl_render(const mw_template *t, double f, double a, float *dst, int64_t L)
{
    int64_t j = 0, e;
    int i = 0;
    double tau, hi;
    float v;
    while (j < L) {
        tau = (double)j - f;
        if (tau >= t->end) {
            dst[j] = 0.0f;
            j += 1;
            continue;
        }
        if (tau >= 0.0) {
            while (t->tau[i + 1] <= tau)
                i += 1;
            hi = t->tau[i + 1];
            if (tau + 1.0 <= hi) {
                if (t->slope[i] == 0.0) {
                    /* the last sample of the run, by the test above
                     * (monotone in j): estimate, then settle */
                    e = (int64_t)(hi + f - 1.0);
                    if (e >= L)
                        e = L - 1;
                    while (e + 1 < L && ((double)(e + 1) - f) + 1.0 <= hi)
                        e += 1;
                    while (e > j && !(((double)e - f) + 1.0 <= hi))
                        e -= 1;
                    v = (float)(t->v[i] * a);
                    while (j <= e) {
                        dst[j] = v;
                        j += 1;
                    }
                } else {
                    for (;;) {
                        dst[j] = (float)(a * (t->v[i] + t->slope[i] * (tau + 0.5 - t->tau[i])));
                        j += 1;
                        if (j >= L)
                            break;
                        tau = (double)j - f;
                        if (!(tau + 1.0 <= hi))
                            break;
                    }
                }
                continue;
            }
        }
        /* (tau < 0 only for j = 0, with i = 0; else tau[i] <= tau) */
        dst[j] = (float)(a * (tpl_cum_from(t, tau + 1.0, i) - tpl_cum_from(t, tau, i)));
        j += 1;
    }
}
