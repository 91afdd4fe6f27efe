/* mw_pattern.h -- polarity patterns (the INFUSE family): which sign each
 * pulse of a train gets.
 *
 * A pattern is a cycle of states -- positive, negative, alternating, rest --
 * each held for a count of pulses or for a number of samples.  The train
 * asks for the sign of every pulse at its onset; everything here is integer
 * arithmetic on pulse counts and sample indices, so it never drifts.
 *
 * Plain data, no memory owned; header only (pattern_sign runs per pulse,
 * so all of it is static inline).  Safe in the audio thread.
 */
#ifndef MW_PATTERN_H
#define MW_PATTERN_H
#include <stdint.h>
#include "mw_limits.h"

typedef struct mw_pattern {
    int n;                           /* number of states; 0 = no pattern (always +1) */
    int by_time;                     /* 1: lengths are samples; 0: lengths are pulses */
    int kind[MW_MAX_STATES];         /* MW_POL_* */
    int64_t length[MW_MAX_STATES];   /* pulses or samples, > 0 */
    /* running state */
    int idx;
    int64_t count;                   /* pulses given out in the current state */
    int64_t state_end;               /* first sample after the current state (by_time) */
    int alt_sign;
} mw_pattern;

static inline void pattern_reset(mw_pattern *p)
{
    p->idx = 0;
    p->count = 0;
    p->alt_sign = 1;
    p->state_end = p->n > 0 ? p->length[0] : 0;
}

static inline void mw_pattern_next_state(mw_pattern *p)
{
    p->idx += 1;
    if (p->idx == p->n)
        p->idx = 0;
    p->count = 0;
    if (p->n > 1)
        p->alt_sign = 1;   /* a single alternating state keeps alternating across cycles */
}

/* Sign (+1, -1, or 0 for rest) of the pulse starting at onset_sample. */
static inline int pattern_sign(mw_pattern *p, int64_t onset_sample)
{
    int k, s;
    if (p->n == 0)
        return 1;
    if (p->by_time) {
        while (onset_sample >= p->state_end) {
            mw_pattern_next_state(p);
            p->state_end += p->length[p->idx];
        }
    } else {
        while (p->count >= p->length[p->idx])
            mw_pattern_next_state(p);
        p->count += 1;
    }
    k = p->kind[p->idx];
    if (k == MW_POL_ALT) {
        s = p->alt_sign;
        p->alt_sign = -s;
        return s;
    }
    return k;
}

/* A counted pattern (not by_time) as it is after k signs from the start:
 * pattern_reset, then k calls of pattern_sign (the same state, so the
 * same signs after it), in a few steps; 0 (p untouched) for a timed
 * pattern, whose state follows the onsets, or lengths too large to add.
 * After call k >= 1 the state holds pulse r = (k - 1) mod the cycle (the
 * states' lengths added up): the state whose lengths reach past r, with
 * r - (the lengths before it) + 1 given out in it (the move to the next
 * state waits for the next call); an alternating state's sign flipped
 * that many times from +1 (each state starts at +1 where there are two or
 * more; a single alternating state flips on every call, k times). */
static inline int pattern_skip(mw_pattern *p, int64_t k)
{
    int64_t c = 0, r;
    int i;
    if (p->by_time)
        return 0;
    if (p->n == 0 || k <= 0) {
        pattern_reset(p);
        return 1;
    }
    for (i = 0; i < p->n; i++) {
        if (p->length[i] > INT64_MAX / MW_MAX_STATES)
            return 0;                   /* (a cycle that may not add up in int64: walked) */
        c += p->length[i];
    }
    pattern_reset(p);
    r = (k - 1) % c;
    for (i = 0; r >= p->length[i]; i++)
        r -= p->length[i];
    p->idx = i;
    p->count = r + 1;
    if (p->kind[i] == MW_POL_ALT)
        p->alt_sign = ((p->n > 1 ? p->count : k) % 2 == 0) ? 1 : -1;
    return 1;
}

#endif
