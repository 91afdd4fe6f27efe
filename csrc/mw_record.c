/* mw_record.c -- the delivered record's accounting and ring (see mw_record.h). */
#include <math.h>
#include <string.h>
#include "mw_record.h"
#include "mw_guard.h"

static void rec_start(mw_record *r, int step, int64_t start)
{
    int c;
    r->cur.step = step;
    r->cur.n_ch = r->n_ch;
    r->cur.start = start;
    r->cur.frames = r->cur.played = 0;
    r->cur.level_sum = r->cur.level_max = 0.0;
    for (c = 0; c < r->n_ch; c++) {
        r->cur.peak_ua[c] = 0.0f;
        r->cur.charge_pos_uc[c] = r->cur.charge_neg_uc[c] = 0.0;
    }
}

/* Nothing summed since the last push (no frame, and no charge: rec_finish adds charge without frames). */
static int rec_empty(const mw_record *r)
{
    int c;
    if (r->cur.frames > 0)
        return 0;
    for (c = 0; c < r->n_ch; c++) {
        if (r->cur.charge_pos_uc[c] != 0.0 || r->cur.charge_neg_uc[c] != 0.0)
            return 0;
    }
    return 1;
}

int rec_push(mw_record *r)
{
    int c;
    int64_t h = r->head;
    mw_rec_entry *e;
    if (rec_empty(r))
        return 1;
    if (h - mw_acquire_i64(&r->tail) >= r->cap)
        return 0;
    e = &r->ring[h % r->cap];
    *e = r->cur;
    for (c = 0; c < r->n_ch; c++) {
        e->charge_pos_uc[c] *= r->inv_rate;   /* uA x samples -> uC */
        e->charge_neg_uc[c] *= r->inv_rate;
    }
    mw_publish_i64(&r->head, h + 1);
    rec_start(r, r->cur.step, r->cur.start + r->cur.played);
    return 1;
}

void rec_account(mw_record *r, const mw_stage *stage, const float *out, ptrdiff_t frames, int step,
                 int64_t start, ptrdiff_t played, const float *levels, double level, uint64_t underflows)
{
    ptrdiff_t f;
    int c, C = stage->out_channels;
    /* the one-pole model of the current: DC is d = 1 (nothing stored, the current is the drive) */
    double y, x, g, d, q, pos, neg, lmax;
    float peak, a;
    const float *v;
    if (!r->on || frames <= 0)
        return;
    if (r->cur.frames > 0 && r->cur.step != step) {
        if (!rec_push(r))
            r->merged += 1;     /* a full ring: the step's end goes into the next step's entry */
    }
    if (r->cur.frames == 0)
        rec_start(r, step, start);
    r->cur.step = step;
    for (c = 0; c < r->n_ch; c++) {
        v = out + stage->pos[c];
        g = 1.0 / stage->gain[c];
        d = stage->ac ? stage->sup.d[stage->ch[c].nominal] : 1.0;
        pos = neg = 0.0;
        peak = r->cur.peak_ua[c];
        /* the current just after each sample's edge: y = x - q, then the
         * coupling stores q' = (1 - d) x + d q (mw_supervisor.h); a DC
         * stage is d = 1 and q = 0: the current is the drive */
        q = r->q[c];
        for (f = 0; f < frames; f++) {
            x = g * v[f * C];
            y = x - q;
            q = (1.0 - d) * x + d * q;
            a = (float)fabs(y);
            peak = a > peak ? a : peak;
            if (y > 0.0)
                pos += y;
            else
                neg += y;
        }
        r->q[c] = q;
        r->cur.peak_ua[c] = peak;
        r->cur.charge_pos_uc[c] += pos;
        r->cur.charge_neg_uc[c] += neg;
    }
    lmax = r->cur.level_max;
    if (levels != NULL) {
        for (f = 0; f < played; f++) {
            r->cur.level_sum += levels[f];
            lmax = levels[f] > lmax ? levels[f] : lmax;
        }
    } else if (played > 0) {
        r->cur.level_sum += level * played;
        lmax = level > lmax ? level : lmax;
    }
    r->cur.level_max = lmax;
    r->cur.frames += frames;
    r->cur.played += played;
    r->cur.underflows = underflows;
    if (r->cur.frames >= r->flush_frames)
        rec_push(r);
}

ptrdiff_t rec_pop(mw_record *r, mw_rec_entry *out, ptrdiff_t n)
{
    int64_t t = r->tail, h = mw_acquire_i64(&r->head);
    ptrdiff_t k = 0;
    while (k < n && t + k < h) {
        out[k] = r->ring[(t + k) % r->cap];
        k++;
    }
    mw_publish_i64(&r->tail, t + k);
    return k;
}

void rec_finish(mw_record *r, const mw_stage *stage)
{
    int c;
    double d, y;
    float a;
    if (!r->on || !stage->ac)
        return;
    for (c = 0; c < r->n_ch; c++) {
        d = stage->sup.d[stage->ch[c].nominal];
        y = -r->q[c] / (1.0 - d);          /* uA x samples, the whole free decay */
        if (y > 0.0)
            r->cur.charge_pos_uc[c] += y;
        else
            r->cur.charge_neg_uc[c] += y;
        a = (float)fabs(r->q[c]);           /* its first sample is the largest */
        if (a > r->cur.peak_ua[c])
            r->cur.peak_ua[c] = a;
        r->q[c] = 0.0;
    }
}
