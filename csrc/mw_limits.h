/* mw_limits.h -- the limits and enums every unit shares, in one place.
 *
 * These numbers size the fixed arrays of the C state (a template's
 * breakpoints, a pattern's states, an envelope's segments, a stage's
 * channels) and name the kinds the plans carry.  They are the single
 * source: the extension exports them to Python (microwave._core:
 * MAX_BREAKPOINTS, MAX_STATES, MAX_SEGMENTS, MAX_CHANNELS, SHAPES,
 * POLARITIES), microwave.patterns and microwave.envelopes import them from
 * there, and Generator checks every array it fills against them.
 * Plain constants: no code, no memory.
 */
#ifndef MW_LIMITS_H
#define MW_LIMITS_H

enum {
    MW_MAX_BP = 16,         /* breakpoints of a pulse template */
    MW_MAX_STATES = 64,     /* states of a polarity pattern */
    MW_MAX_SEGS = 32,       /* segments of an envelope */
    MW_MAX_CH = 32          /* program channels (and DAC channels) of a stage */
};

/* envelope segment shapes (the curved ones are polynomials, mw_shapes.h) */
enum {
    MW_SHAPE_HOLD = 0,
    MW_SHAPE_LINEAR = 1,
    MW_SHAPE_COSINE = 2,
    MW_SHAPE_EXP = 3
};

/* polarity pattern states: the sign a pulse gets (alternating flips it) */
enum {
    MW_POL_REST = 0,
    MW_POL_POS = 1,
    MW_POL_NEG = -1,
    MW_POL_ALT = 2
};

/* a sweep's onsets are computed this many at a time (mw_schedule.h) */
enum { MW_SWEEP_BATCH = 16 };

/* pulse schedules */
enum {
    MW_SCHED_REGULAR = 0,   /* rational period, optional bursts */
    MW_SCHED_SWEEP = 1,     /* phase-continuous frequency sweep */
    MW_SCHED_CUSTOM = 2     /* listed onsets and amplitudes, optionally looped */
};

#endif
