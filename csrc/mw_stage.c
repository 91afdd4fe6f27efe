/* mw_stage.c -- clamp, supervise, route (see mw_stage.h). */
#include <string.h>
#include "mw_stage.h"
#include "mw_port.h"

int stage_settled(const mw_stage *s)
{
    int c;
    if (!s->ac)
        return 1;
    for (c = 0; c < s->n_prog; c++) {
        if (!mw_sup_settled(&s->ch[c]))
            return 0;
    }
    return 1;
}

int stage_drained(const mw_stage *s)
{
    int c;
    if (!s->ac)
        return 1;
    for (c = 0; c < s->n_prog; c++) {
        if (!mw_sup_drained(&s->sup, &s->ch[c]))
            return 0;
    }
    return 1;
}

void stage_cut(mw_stage *s)
{
    int c;
    if (!s->ac)
        return;
    for (c = 0; c < s->n_prog; c++)
        s->ch[c].x = s->ch[c].xb = 0.0;
}

/* selects, not branches, so the loops vectorise; NaN never leaves (-> 0) */
static inline float clamp_sample(float x, float lim)
{
    x = x == x ? x : 0.0f;
    x = x < lim ? x : lim;
    x = x > -lim ? x : -lim;
    return x;
}

/* A DC-coupled stage: the current is the drive.  Gain and clamp in place,
 * counting the samples the clamp changed (a NaN differs from everything):
 * one contiguous loop of selects that the compiler vectorises, the count in
 * int lanes (frames <= the session's block). */
static inline void dc_clamp(mw_stage *s, float *ua, ptrdiff_t frames, float gf)
{
    ptrdiff_t f;
    float lim = s->clamp, v, w;
    int over = 0;
    for (f = 0; f < frames; f++) {
        v = gf * ua[f];
        w = clamp_sample(v, lim);
        over += w != v;
        ua[f] = w;
    }
    s->clamped += over;
}

/* Program channel c's current (uA) -> its DAC values, in place. */
static inline void stage_shape(mw_stage *s, int c, float *ua, ptrdiff_t frames, int64_t t0, int bleed)
{
    if (s->ac)
        mw_sup_run(&s->sup, &s->ch[c], c, ua, frames, t0, bleed);
    else
        /* DC: the current is the drive; gain and clamp in place, counted */
        dc_clamp(s, ua, frames, (float)s->gain[c]);
}

/* Interleave channel c's DAC values into its DAC channel(s) of out. */
static inline void stage_route(const mw_stage *s, int c, const float *v, float *out, ptrdiff_t frames)
{
    ptrdiff_t f;
    int C = s->out_channels, p = s->pos[c], q = s->neg[c];
    if (C == 1) {
        memcpy(out, v, frames * sizeof(float));
    } else if (q < 0) {
        for (f = 0; f < frames; f++)
            out[f * C + p] = v[f];
    } else {
        for (f = 0; f < frames; f++) {
            out[f * C + p] = v[f];
            out[f * C + q] = -v[f];
        }
    }
}

/* Two program channels through a DC stage straight to a stereo card: gain,
 * clamp, count and interleave in one pass (the two passes of dc_clamp and
 * the interleave after them wrote the scratch and read it back), built for
 * AVX2 and the baseline (MW_CLONES: the same IEEE operations, no FMA, the
 * same bits; AVX2 takes a 2-channel DC session from 0.37 to 0.27 ns a
 * channel-sample).  Returns the samples the clamp changed (frames <= the
 * session's block).  The index is a ptrdiff_t: with an int, -fwrapv
 * (Python's CFLAGS) makes 2 * f a wrapping int and GCC leaves the AVX2
 * clone scalar.  No restrict (MSVC's C takes it only from /std:c11 on):
 * GCC checks the overlap once a call and vectorises, as fast. */
MW_CLONES int mw_dc_stereo(const float *a, const float *b, float *out, ptrdiff_t frames,
                           float g0, float g1, float lim)
{
    ptrdiff_t f;
    int over = 0;
    float v0, w0, v1, w1;
    /* both channels' counts in one add, both stores after: the form GCC
     * vectorises (a count added after each store it did not) */
    for (f = 0; f < frames; f++) {
        v0 = g0 * a[f];
        w0 = clamp_sample(v0, lim);
        v1 = g1 * b[f];
        w1 = clamp_sample(v1, lim);
        over += (w0 != v0) + (w1 != v1);
        out[2 * f] = w0;
        out[2 * f + 1] = w1;
    }
    return over;
}

void stage_dc_stereo_apply(mw_stage *s, const float *a, const float *b, uint32_t ka, uint32_t kb, float *out,
                           ptrdiff_t frames)
{
    ptrdiff_t f;
    float x0, x1, v0, w0, v1, w1;
    const float g0 = (float)s->gain[0], g1 = (float)s->gain[1];
    uint32_t u0, u1;
    if (a != NULL) {
        s->clamped += mw_dc_stereo(a, b, out, frames, g0, g1, s->clamp);
        return;
    }
    /* one value a channel (a rest, a flat top): mw_dc_stereo's operations
     * once, every frame the same DAC pair and the same count */
    memcpy(&x0, &ka, sizeof x0);
    memcpy(&x1, &kb, sizeof x1);
    v0 = g0 * x0;
    w0 = clamp_sample(v0, s->clamp);
    v1 = g1 * x1;
    w1 = clamp_sample(v1, s->clamp);
    s->clamped += (uint64_t)frames * (uint64_t)((w0 != v0) + (w1 != v1));
    memcpy(&u0, &w0, sizeof u0);
    memcpy(&u1, &w1, sizeof u1);
    if (u0 == u1) {
        mw_fill_bits(out, 2 * frames, u0);
        return;
    }
    for (f = 0; f < frames; f++) {
        out[2 * f] = w0;
        out[2 * f + 1] = w1;
    }
}

void stage_apply(mw_stage *s, float *ua, ptrdiff_t stride, float *out, ptrdiff_t frames, int64_t t0, int bleed)
{
    int c;
    ptrdiff_t f;
    const float *a = ua;
    const float *b = ua + stride;
    int stereo = s->out_channels == 2 && s->n_prog == 2 && s->pos[0] == 0 && s->pos[1] == 1
                 && s->neg[0] < 0 && s->neg[1] < 0;
    if (stage_dc_stereo(s)) {
        /* the program channels' scratch is not read after this (the DAC frames are) */
        s->clamped += mw_dc_stereo(a, b, out, frames, (float)s->gain[0], (float)s->gain[1], s->clamp);
        return;
    }
    for (c = 0; c < s->n_prog; c++)
        stage_shape(s, c, ua + c * stride, frames, t0, bleed);
    if (stereo) {
        /* two channels straight to a stereo card: one pass that vectorises */
        for (f = 0; f < frames; f++) {
            out[2 * f] = a[f];
            out[2 * f + 1] = b[f];
        }
        return;
    }
    for (c = 0; c < s->n_prog; c++)
        stage_route(s, c, ua + c * stride, out, frames);
}
