/* mw_schedule.h -- the schedule of a train's pulse onsets.
 *
 * Onsets come from exact rational arithmetic (whole + rem/den samples) for
 * regular trains (with optional bursts) and a sweep's held tail, and from
 * closed-form expressions of the integer pulse index for sweeps and custom
 * trains -- never from a float that accumulates.
 *
 * The struct is plain data filled by microwave._core.Generator; a custom
 * schedule's onsets and amplitudes are borrowed (the Generator keeps the
 * arrays alive).  Nothing here allocates: safe in the audio thread.
 * sched_next runs per pulse: static inline, with its helpers.
 */
#ifndef MW_SCHEDULE_H
#define MW_SCHEDULE_H
#include <math.h>
#include <stdint.h>
#include "mw_limits.h"
#include "mw_log.h"
#include "mw_rational.h"
#include "mw_port.h"

typedef struct mw_schedule {
    int kind;                /* MW_SCHED_*; a sweep turns MW_SCHED_REGULAR at its held tail
                              * (pulse tail_k on) and sched_reset turns it back */
    int has_end;             /* pulses start only before end_whole + end_frac samples */
    int64_t end_whole;
    double end_frac;
    int64_t k;               /* index of the next pulse */
    int done;
    /* regular train with optional bursts: onset = burst_clock + pulse_clock */
    mw_rat period;
    int has_burst;
    mw_rat burst_on;         /* pulses start while pulse_clock < burst_on (same den as period) */
    mw_rat burst_cycle;      /* burst period (same den as delay) */
    mw_rat pulse_clock;
    mw_rat burst_clock;      /* starts at the train delay */
    mw_rat delay;            /* train delay (same den as burst_cycle) */
    double inv_period_den, inv_burst_den;
    /* sweep: phase-continuous, onset k where the instantaneous phase reaches k cycles */
    int64_t tail_k;          /* > 0: the first pulse past the sweep's end (past phase_at_end), from
                              * which it holds f1: a regular train whose first onset is delay and
                              * whose period is period (exact: it repeats, and a tile copies it) */
    int sweep_log;
    double f0, f1, sweep_s, rate, delay_s, phase_at_end;
    /* derived by sched_reset from the above, for sched_sweep_batch's laws:
     * f0 * f0, 4 a (a = (f1 - f0) / (2 sweep_s)), sweep_s / log(f1 / f0),
     * log(f1 / f0) (mw_log), f0 * sweep_s */
    double sw_f0sq, sw_4a, sw_s_lr, sw_lr, sw_f0s;
    /* a sweep's or a custom train's onsets (samples) of pulses sw_k0 ..
     * sw_k0 + sw_n - 1, computed MW_SWEEP_BATCH at a time: independent of
     * each other, their divides and square roots (a sweep's) overlap
     * instead of waiting one for the other */
    int64_t sw_k0;
    int sw_n;
    int sw_last;             /* the pulse after the batch is past the end (or past int64): none */
    double sw_t[MW_SWEEP_BATCH];
    int64_t sw_w[MW_SWEEP_BATCH];   /* each onset's whole samples, fraction and amplitude scale, */
    double sw_f[MW_SWEEP_BATCH];    /* as sched_next gives them */
    double sw_a[MW_SWEEP_BATCH];
    /* custom: onsets (samples, sorted, within one loop) and per-pulse amplitude scale */
    const double *c_onsets;
    const double *c_amps;
    int64_t c_n;
    double c_loop;           /* loop period, samples; <= 0 plays once */
    double c_delay;
    /* derived by sched_reset: c_loop when it is a whole number of samples
     * (else 0).  Then pulse idx of loop cyc starts at the whole samples of
     * c_delay + c_onsets[idx] plus cyc * c_loop_whole, at that sum's
     * fraction: every loop's onsets are the first loop's moved by whole
     * samples, exactly (the train repeats, and a tile can copy it) */
    int64_t c_loop_whole;
    /* k / c_n and k % c_n for k = c_at, kept from batch to batch so that
     * sched_next divides only when k was moved by someone else */
    int64_t c_at, c_cyc, c_idx;
} mw_schedule;

/* An onset at w + f samples is at or after the train's end. */
static inline int sched_past_end(const mw_schedule *s, int64_t w, double f)
{
    return w > s->end_whole || (w == s->end_whole && f >= s->end_frac);
}

/* Onset t + add (samples; add whole) into the batch at b, as sched_next
 * gives it: its whole samples and fraction (t's), and amplitude scale amp;
 * 0 (nothing stored) if it is past int64 (or NaN) or past the train's end:
 * the train is over. */
static inline int sched_batch_put(mw_schedule *s, int b, double t, int64_t add, double amp)
{
    int64_t w;
    double f;
    if (!(t < 9.0e18) || add > (int64_t)4.0e18)
        return 0;
    w = (int64_t)t;              /* t >= 0: truncation is floor (and no libm call) */
    f = t - w;
    w += add;
    if (s->has_end && sched_past_end(s, w, f))
        return 0;
    s->sw_w[b] = w;
    s->sw_f[b] = f;
    s->sw_a[b] = amp;
    return 1;
}

/* The sweep's next MW_SWEEP_BATCH onsets from pulse k on (sw_t: their
 * times, samples), fewer before the held tail (tail_k), then each onset's
 * whole samples and fraction with the tests sched_next made pulse by
 * pulse (past int64, past the end): the batch stops before the first
 * onset that fails one (sw_last), the pulse where the train is over.
 * Once every MW_SWEEP_BATCH pulses: out of line, so that sched_next stays
 * inline in the train's loop. */
static MW_NOINLINE MW_CLONES void sched_sweep_batch(mw_schedule *s)
{
    int idx, n, m = MW_SWEEP_BATCH;
    double k[MW_SWEEP_BATCH];
    const double delay_s = s->delay_s, f0 = s->f0, f0sq = s->sw_f0sq, a4 = s->sw_4a, rate = s->rate;
    if (s->tail_k - s->k < m)
        m = (int)(s->tail_k - s->k);     /* (>= 1: sched_next_batched turns to the tail at tail_k) */
    for (idx = 0; idx < m; idx++)
        k[idx] = (double)(s->k + idx);
    /* the seconds (after the delay) at which the sweep's phase reaches k
     * cycles, k <= phase_at_end, by its law: one loop a law, its constants
     * in locals (no store to sw_t can change them), so that each
     * vectorises -- the divides, square roots and mw_log 4 at a time in
     * the AVX2 clone, every operation still correctly rounded: the same
     * bits in either clone */
    if (s->f0 == s->f1) {
        for (idx = 0; idx < m; idx++)
            s->sw_t[idx] = (delay_s + k[idx] / f0) * rate;
    } else if (s->sweep_log) {
        const double s_lr = s->sw_s_lr, lr = s->sw_lr, f0s = s->sw_f0s;
        for (idx = 0; idx < m; idx++)
            s->sw_t[idx] = (delay_s + s_lr * mw_log1p(k[idx] * lr / f0s)) * rate;
    } else {
        for (idx = 0; idx < m; idx++)
            s->sw_t[idx] = (delay_s + 2.0 * k[idx] / (f0 + sqrt(f0sq + a4 * k[idx]))) * rate;
    }
    n = m;
    for (idx = 0; idx < m; idx++) {
        if (!sched_batch_put(s, idx, s->sw_t[idx], 0, 1.0)) {
            n = idx;
            break;
        }
    }
    s->sw_k0 = s->k;
    s->sw_n = n;
    s->sw_last = n < m;
}

/* A custom train's next MW_SWEEP_BATCH onsets from pulse k on, each as
 * sched_next once computed it pulse by pulse (the same sum, the same
 * tests); the batch stops before the first that is over (no loop, past
 * int64, past the end: sw_last).  k / c_n and k % c_n are kept from batch
 * to batch in c_at, c_cyc, c_idx (divided only when k was moved). */
static MW_NOINLINE void sched_custom_batch(mw_schedule *s)
{
    int b, n = MW_SWEEP_BATCH;
    double t;
    int64_t cyc, idx, add;
    if (s->k == s->c_at) {
        cyc = s->c_cyc;
        idx = s->c_idx;
    } else {
        cyc = s->k / s->c_n;
        idx = s->k - cyc * s->c_n;
    }
    for (b = 0; b < MW_SWEEP_BATCH; b++) {
        if (s->c_loop_whole > 0) {
            t = s->c_delay + s->c_onsets[idx];
            add = cyc <= (int64_t)4.0e18 / s->c_loop_whole ? cyc * s->c_loop_whole : INT64_MAX;
        } else {
            t = s->c_delay + cyc * s->c_loop + s->c_onsets[idx];
            add = 0;
        }
        if ((cyc > 0 && s->c_loop <= 0.0) || !sched_batch_put(s, b, t, add, s->c_amps[idx])) {
            n = b;               /* played once, or over */
            break;
        }
        /* the pulse after it: the next onset, or the first of the next loop */
        idx += 1;
        if (idx == s->c_n) {
            idx = 0;
            cyc += 1;
        }
    }
    s->sw_k0 = s->k;
    s->sw_n = n;
    s->sw_last = n < MW_SWEEP_BATCH;
    s->c_at = s->k + n;
    s->c_cyc = cyc;
    s->c_idx = idx;
}

/* A custom train with a whole loop (c_loop_whole) moved on by D samples,
 * a whole number of loops: the same pulses D later (its batch's onsets
 * D later, bit for bit what a batch computed there holds), the batch cut
 * before the first onset at or past the end. */
static inline void sched_custom_shift(mw_schedule *s, int64_t D)
{
    int64_t loops = D / s->c_loop_whole, dk = loops * s->c_n;
    int b;
    s->k += dk;
    s->sw_k0 += dk;
    s->c_at += dk;
    s->c_cyc += loops;
    for (b = 0; b < s->sw_n; b++) {
        s->sw_w[b] += D;
        if (s->has_end && sched_past_end(s, s->sw_w[b], s->sw_f[b])) {
            s->sw_n = b;
            s->sw_last = 1;
            break;
        }
    }
}

/* sched_next for a regular train (with optional bursts, or a sweep's
 * held tail): the next onset from the clocks. */
static inline int sched_next_regular(mw_schedule *s, int64_t *whole, double *frac, double *amp)
{
    double f;
    int64_t w;
    if (s->done)
        return 0;
    amp[0] = 1.0;
    if (s->has_burst && rat_ge(&s->pulse_clock, &s->burst_on)) {
        s->pulse_clock.whole = 0;
        s->pulse_clock.rem = 0;
        rat_add(&s->burst_clock, &s->burst_cycle);
    }
    w = s->burst_clock.whole + s->pulse_clock.whole;
    f = s->burst_clock.rem * s->inv_burst_den + s->pulse_clock.rem * s->inv_period_den;
    if (f >= 1.0) {
        f -= 1.0;
        w += 1;
    }
    rat_add(&s->pulse_clock, &s->period);
    if (s->has_end && sched_past_end(s, w, f)) {
        s->done = 1;
        return 0;
    }
    s->k += 1;
    whole[0] = w;
    frac[0] = f;
    return 1;
}

/* sched_next for a sweep or a custom train: the next onset of the batch;
 * at a sweep's held tail, the regular train's from then on. */
static inline int sched_next_batched(mw_schedule *s, int64_t *whole, double *frac, double *amp)
{
    int64_t i = s->k - s->sw_k0;
    if (s->done)
        return 0;
    if (i >= s->sw_n) {
        if (!s->sw_last) {
            if (s->kind == MW_SCHED_SWEEP && s->k == s->tail_k) {
                s->kind = MW_SCHED_REGULAR;     /* (the clocks are at the tail's first onset) */
                return sched_next_regular(s, whole, frac, amp);
            }
            if (s->kind == MW_SCHED_SWEEP)
                sched_sweep_batch(s);
            else
                sched_custom_batch(s);
            i = 0;
        }
        if (i >= s->sw_n) {
            s->done = 1;
            return 0;
        }
    }
    amp[0] = s->sw_a[i];
    whole[0] = s->sw_w[i];
    frac[0] = s->sw_f[i];
    s->k += 1;
    return 1;
}

/* The onset and amplitude scale of the next pulse; 0 when the train is over. */
static inline int sched_next(mw_schedule *s, int64_t *whole, double *frac, double *amp)
{
    if (s->kind != MW_SCHED_REGULAR)
        return sched_next_batched(s, whole, frac, amp);
    return sched_next_regular(s, whole, frac, amp);
}

/* A loop that takes its onsets one by one keeps where it is in the batch
 * (a sweep's, a custom train's) in locals: pulses i .. n - 1 of the batch
 * are sched_next's next onsets, as it would give them (none for a regular
 * train, or one that is over), read with no store to the schedule between
 * them (sched_next's index, through memory, made a chain from one pulse to
 * the next).  sched_cursor_put writes the index back: before anything else
 * asks the schedule (sched_next), and when the loop ends. */
typedef struct mw_sched_cursor {
    int64_t i, n;
} mw_sched_cursor;

static inline mw_sched_cursor sched_cursor(const mw_schedule *s)
{
    mw_sched_cursor c;
    c.i = s->k - s->sw_k0;
    c.n = s->kind != MW_SCHED_REGULAR && !s->done && c.i < s->sw_n ? s->sw_n : c.i;
    return c;
}

static inline void sched_cursor_put(mw_schedule *s, const mw_sched_cursor *c)
{
    s->k = s->sw_k0 + c->i;
}

/* Back to the first pulse (the running fields only). */
static inline void sched_reset(mw_schedule *s)
{
    if (s->tail_k > 0)
        s->kind = MW_SCHED_SWEEP;   /* (a sweep in its held tail: back to the sweep) */
    s->k = 0;
    s->done = 0;
    s->pulse_clock.whole = 0;
    s->pulse_clock.rem = 0;
    s->pulse_clock.den = s->period.den;
    s->burst_clock = s->delay;
    s->inv_period_den = 1.0 / s->period.den;
    s->inv_burst_den = 1.0 / s->delay.den;
    s->sw_k0 = 0;
    s->sw_n = 0;
    s->sw_last = 0;
    s->c_at = 0;
    s->c_cyc = 0;
    s->c_idx = 0;
    s->c_loop_whole = 0;
    if (s->kind == MW_SCHED_CUSTOM && s->c_loop >= 1.0 && s->c_loop <= 1.0e15 && s->c_loop == floor(s->c_loop))
        s->c_loop_whole = (int64_t)s->c_loop;
    if (s->kind == MW_SCHED_SWEEP) {
        /* each as the laws once computed it inline (left to right) */
        s->sw_f0sq = s->f0 * s->f0;
        s->sw_4a = 4.0 * ((s->f1 - s->f0) / (2.0 * s->sweep_s));
        s->sw_lr = mw_log(s->f1 / s->f0);
        s->sw_s_lr = s->sweep_s / s->sw_lr;
        s->sw_f0s = s->f0 * s->sweep_s;
    }
}

#endif
