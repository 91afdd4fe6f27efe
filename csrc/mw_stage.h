/* mw_stage.h -- the output stage: uA -> DAC samples, the only place that
 * knows volts.
 *
 * For each program channel: the supervisor (mw_supervisor.h), which keeps
 * the current that flows within the stage's limit -- through an AC-coupled
 * card it also pre-emphasises, so that the current that flows is the one
 * asked for, and bounds the charge the coupling stores -- then a
 * destination: one DAC channel, or a bridged pair driven in antiphase.  The
 * clamp to the stage's safe maximum is the last operation on every sample,
 * here, in compiled code, and every sample it changes is counted.
 *
 * Plain data, no memory owned; stage_apply and stage_settled run in the
 * audio thread and never allocate.
 */
#ifndef MW_STAGE_H
#define MW_STAGE_H
#include <stddef.h>
#include <stdint.h>
#include "mw_limits.h"
#include "mw_supervisor.h"

typedef struct mw_stage {
    int out_channels;
    int n_prog;
    int pos[MW_MAX_CH];        /* DAC channel of each program channel */
    int neg[MW_MAX_CH];        /* its antiphase partner (bridged), or -1 */
    double gain[MW_MAX_CH];    /* DAC units per uA, per DAC channel of the pair */
    float clamp;               /* DC: |DAC sample| never exceeds this */
    int ac;                    /* AC-coupled: the supervisor shapes every sample */
    uint64_t clamped;          /* DC: samples the clamp changed */
    mw_sup sup;                /* AC: the model of the coupling and its bounds */
    mw_sup_ch ch[MW_MAX_CH];   /* AC: each program channel's coupling state */
} mw_stage;

/* Nothing is stored in a coupling: the DAC may stop now. */
int stage_settled(const mw_stage *s);

/* Settled, and each coupling stores no more than MW_SUP_RESTART of its
 * bound (mw_sup_drained): what a bleed leaves, or a cut stores, has flowed,
 * and a session may play (again) as at its first start. */
int stage_drained(const mw_stage *s);

/* The drive steps to zero, as when the stream dies (a rewind from mid-play
 * cuts the pulse where it is): an AC channel's stored charge then flows as
 * after an abrupt end, which the supervisor keeps within the limit at every
 * sample; a session starts again once it is drained (stage_drained).
 * Nothing to do for a DC stage. */
void stage_cut(mw_stage *s);

/* Two program channels straight to a stereo card through a DC stage:
 * stage_apply is then one pass (mw_dc_stereo) that reads the channels'
 * currents and leaves them as they are. */
static inline int stage_dc_stereo(const mw_stage *s)
{
    return !s->ac && s->out_channels == 2 && s->n_prog == 2 && s->pos[0] == 0 && s->pos[1] == 1
           && s->neg[0] < 0 && s->neg[1] < 0;
}

/* stage_apply of a stage_dc_stereo stage, each channel's current read
 * where it is: the frames at a and at b, or, where a and b are NULL (both
 * or neither: every caller passes them so), one
 * value throughout, the float of bits ka and of bits kb (the same
 * operations on every sample, the same bits, each sample counted). */
void stage_dc_stereo_apply(mw_stage *s, const float *a, const float *b, uint32_t ka, uint32_t kb, float *out,
                           ptrdiff_t frames);

/* Map every program channel's current (uA; channel c at ua + c * stride,
 * overwritten) into the interleaved DAC frames of out, clamped
 * (frames <= the session's block).  t0 is the session sample of the first
 * frame; ``bleed``: the programs are silent and the couplings give back
 * what they store. */
void stage_apply(mw_stage *s, float *ua, ptrdiff_t stride, float *out, ptrdiff_t frames, int64_t t0, int bleed);

#endif
