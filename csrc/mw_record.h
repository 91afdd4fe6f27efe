/* mw_record.h -- what was delivered, from the audio thread to a writer.
 *
 * The session engine accounts, in the audio thread, for the current that
 * flows -- not the samples asked for: every DAC frame it writes is turned
 * back into each program channel's electrode current through the stage's
 * model (DC: the drive; AC: the declared corner's one-pole high-pass of the
 * held drive, mw_supervisor.h) -- and sums, per step, the charge of the
 * positive and of the negative current, its peak, the frames played and
 * the live level.  Every MW_REC_FLUSH_S of stream (and at each step's
 * end, and when the session ends) the entry so far is pushed into a
 * single-producer, single-consumer ring; a writer thread (Python, never
 * real-time) pops the entries and stores them (microwave.history).
 *
 * Real-time rules: rec_account and rec_push run in the audio thread; they
 * never allocate, lock, block or call Python.  The ring is lock-free: the
 * producer alone writes `head`, the consumer alone writes `tail`, each
 * published with release and read with acquire.  A full ring (a writer
 * stalled for minutes) does not block the audio: the entry keeps growing
 * and is pushed later (at a step's end it is pushed into the next step's
 * entry instead, and counted in `merged`).  rec_pop runs in the consumer.
 */
#ifndef MW_RECORD_H
#define MW_RECORD_H
#include <stddef.h>
#include <stdint.h>
#include "mw_limits.h"
#include "mw_stage.h"

#define MW_REC_FLUSH_S 0.1     /* an entry at least this often (seconds of stream) */

typedef struct mw_rec_entry {        /* microwave._core.RECORD_DTYPE mirrors this */
    int32_t step;                    /* the session's step */
    int32_t n_ch;                    /* program channels (electrode pairs) */
    int64_t start;                   /* session sample at the first frame (pauses excluded) */
    int64_t frames;                  /* frames streamed (pauses and bleeds included) */
    int64_t played;                  /* frames of the session played (pauses excluded) */
    uint64_t underflows;             /* output underflows so far (cumulative) */
    double level_sum;                /* the live level, summed over the played frames */
    double level_max;                /* ... its maximum */
    float peak_ua[MW_MAX_CH];        /* per channel: the largest |current| that flowed, uA */
    double charge_pos_uc[MW_MAX_CH]; /* per channel: charge of the positive current, uC */
    double charge_neg_uc[MW_MAX_CH]; /* per channel: charge of the negative current, uC (<= 0) */
} mw_rec_entry;

typedef struct mw_record {
    int on;                          /* account and push (a ring is allocated) */
    mw_rec_entry *ring;              /* cap entries, owned by the session engine */
    int64_t cap;
    int64_t head;                    /* entries pushed (producer; published) */
    int64_t tail;                    /* entries popped (consumer; published) */
    uint64_t merged;                 /* step ends the full ring merged into the next step */
    mw_rec_entry cur;                /* the entry being summed (charges in uA x samples) */
    int64_t flush_frames;            /* push once the entry holds this many frames */
    double inv_rate;                 /* 1 / sample rate: uA x samples -> uC */
    int n_ch;                        /* program channels */
    double q[MW_MAX_CH];             /* what each channel's coupling stores, uA-equivalent (DC: 0) */
} mw_record;

/* Account for `frames` interleaved DAC frames `stage` just wrote, all of
 * step `step`, through the stage's own model of the current: each program
 * channel's drive is its DAC value over its gain, and an AC stage's current
 * the declared corner's one-pole high-pass of it (mw_supervisor.h).  The
 * first `played` frames advanced the session (from session sample
 * `start`), at the live level `levels[f]` (or `level` throughout when
 * levels is NULL).  Pushes the entry when it is due. */
void rec_account(mw_record *r, const mw_stage *stage, const float *out, ptrdiff_t frames, int step,
                 int64_t start, ptrdiff_t played, const float *levels, double level, uint64_t underflows);

/* Push the entry summed so far (if it holds anything) and start the next;
 * a full ring keeps it (returns 0). */
int rec_push(mw_record *r);

/* The stream has ended: the DAC is silent from now on, and each AC
 * coupling gives back what it stores, y[n] = -d^n q, in all -q / (1 - d):
 * add that current to the entry (no frames: it flows after the last one).
 * Not in the audio thread. */
void rec_finish(mw_record *r, const mw_stage *stage);

/* Copy up to n entries into out, oldest first; the count (consumer). */
ptrdiff_t rec_pop(mw_record *r, mw_rec_entry *out, ptrdiff_t n);

#endif
