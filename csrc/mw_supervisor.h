/* mw_supervisor.h -- the limit on the current that flows.
 *
 * The output stage turns each program channel's current (uA) into a drive
 * x, in uA-equivalent at the stage's nominal conversion (its DAC value is
 * x times the channel's gain).  What flows is not always x:
 *
 *   DC-coupled card   the current is x.
 *   AC-coupled card   the card's output capacitor is a first-order high-pass
 *                     of corner f.  The DAC holds each sample (a zero-order
 *                     hold), so the current just after sample n's edge is
 *                         y[n] = d y[n-1] + x[n] - x[n-1],  d = exp(-2 pi f / rate)
 *                     and it only decays within the sample: |y[n]| bounds it.
 *
 * Write q[n] = x[n-1] - d y[n-1], so that y[n] = x[n] - q[n].  q is the
 * charge stored in the coupling, in uA-equivalent: the current that flows
 * at sample n if the DAC returns to zero there -- an underflow, a crash or
 * a lost device does that at once.  It is a low-pass of the drive:
 *     q[n+1] = (1 - d) x[n] + d q[n].
 *
 * The corner of a real card is known only within a tolerance (and where the
 * card's capacitor drives the electrodes itself, a voltage-mode stage, it
 * moves with the load: 1 / (2 pi R C), and a bridged pair's load meets
 * both capacitors in series, C / 2: Stage.corner_range_hz), and the
 * current stored by a long excursion is largest for the corner whose time
 * constant is near the excursion's age, not always at an end of the
 * range.  The supervisor therefore models corners across it, spaced
 * geometrically at most MW_SUP_STEP apart (at least seven; more for a wide
 * tolerance), the declared corner among them, and chooses every sample's
 * drive inside
 *     |x - q_k|                  <= L   the current that flows now,
 *     |(1 - d_k) x + d_k q_k|    <= L   the current an abrupt zero would bring next,
 *     |x|                        <= rail (the DAC's swing),
 *     |x|                        <= L   what flows if the card is in fact DC-coupled,
 * for every modelled corner k.  The last bound makes a coupling declared
 * but absent (a DC card calibrated or typed in as AC) harmless: the drive
 * never asks more than the limit of anything.  x = 0 always satisfies all
 * of them (by induction every |q_k| <= L), so the set is a non-empty
 * interval and the clamp never has to choose between constraints.
 *
 * The drive it aims for is the pre-emphasis of the declared corner (the
 * current asked for, plus what that corner has stored; a bridged pair of a
 * voltage-mode stage, whose loop holds both capacitors in series, inverts
 * its own nominal corner, twice a single channel's: each channel's
 * `nominal`), or, while bleeding, a step of the drive towards zero.  A
 * sample whose aim lies outside the interval is clamped and counted: with
 * a session that passed its check (Session.check runs this in measure
 * mode, where nothing is clamped and the worst ratio to each bound is
 * recorded, and the first sample that passes one: over_at) that never
 * happens at any steady level up to the session's maximum.  What the
 * check cannot
 * see -- the live level moving with the waveform -- is met first by the
 * soft bound: a sample that comes within MW_SUP_SOFT of a bound is counted
 * (tight), and the session engine then ends the session as a stop does --
 * the units that start next take a falling gain, then the coupling is
 * bled -- and says why; the clamp is the last line.
 *
 * The bounds above are on the samples.  Between them a band-limited DAC
 * carries the drive's edges further: the specs' own pulses by at most
 * `between_ua` (their ringing at the highest level, Stage._between) and a cut
 * of the pre-emphasis by `pre_ring` of it (the sampled step's overshoot).
 * The soft bound counts both, sample by sample, so that a level moved with
 * the waveform -- raised on one polarity, lowered on the other, pumping
 * charge into the coupling -- ends the session while the current between
 * samples is still within MW_SUP_SOFT of L (a review: 522.6 uA of 495
 * between samples while the samples stayed at 440, when the soft bound
 * looked at the samples alone).  At a steady level up to the session's
 * maximum it still never counts: Stage.assess sets that maximum with the
 * same terms.  The clamp keeps the same room, L - between_ua - pre_ring |q|
 * in place of L, for the samples played while the soft bound's stop takes
 * effect (it is decided at chunk ends; a fast corner charges within one),
 * but never less than the stored charge |q_k| itself, so that x = 0 stays
 * in the interval.
 *
 * A hold (a pause, a level of zero) bleeds the coupling, and the session
 * plays on from the sample p where its programs stopped with nothing
 * stored (mw_sup_drained).  The pre-emphasis then starts again from none:
 * against the same session played through, the drive and the nominal
 * corner's charge are less by q_nom(p) for good, and corner k's current
 * differs by (q_k(p) - q_nom(p)) d_k^(t - p), decaying.  A session of long
 * runs of one polarity swings its stored charge over a wide range; played
 * on from none at the wrong end of that range, it swung past it (a
 * property test: clamped after a pause at the session's highest level).
 * So the measure takes every sample as one a hold may start at: the drive
 * against q_nom's least and most so far (lo, hi: |x - lo|, |x - hi|), each
 * corner's current plus the largest decayed difference (gap), the stored
 * charge likewise, and the pre-emphasis against lo and hi -- the worst of
 * playing through and of playing on after a hold anywhere before.  (A
 * level that falls and rises monotonically mixes these trajectories; one
 * that dips and comes back without a hold does not, so a fall to silence
 * goes on to its hold: mw_session.c.)
 *
 * A moving corner (`moving`).  A voltage-mode stage on an AC-coupled card
 * has the card's capacitor drive the load R itself, so its corner,
 * 1 / (2 pi R C), moves as the load does -- from sample to sample, as an
 * electrode's contact changes.  Each fixed corner above is one path; a load
 * that changes mid-session takes none of them (a review: 5 ms at 10 kohm,
 * then 500 ohm again, drove 552 uA of 500 where every fixed load gave 410).
 * Whatever corner f(t) in [f_0, f_(k-1)] the coupling has, its charge moves
 * towards the drive by a factor between d_fast = d_(k-1) and d_slow = d_0 a
 * sample, and
 * that move is increasing in where it starts, so the most it can store
 * after a sample of drive x is
 *     v1' = x + (v1 - x) * (v1 >= x ? d_slow : d_fast)
 * and the least v0' alike (v0 <= x: d_slow, else d_fast); the charge of any
 * path lies in [v0, v1].  The current now, |x - v| for every such v, is kept
 * within the bound as the corners' is: |x - v0|, |x - v1| <= L.  What an
 * abrupt zero brings next, |v'|, needs no bound of its own: v' lies between
 * x and v, both within L.  Played on after a hold at p, the drive is less
 * q_nom(p) and the charge starts from none, which lies in
 * [v0(p) - q_nom(p), v1(p) - q_nom(p)] (the nominal corner is one of the
 * paths); the map keeps an interval inside another, so that charge stays
 * within [v0 - q_nom(p), v1 - q_nom(p)] and its current within the one
 * played through: the measure needs no gap for it.
 */
#ifndef MW_SUPERVISOR_H
#define MW_SUPERVISOR_H

#include <stdint.h>

#define MW_SUP_K 64         /* corners modelled at most (a tolerance of +-90 % needs 23; a voltage-mode
                             * stage across a 20x load range at +-90 % needs 44) */
#define MW_SUP_MIN_K 7      /* corners modelled at least, with a tolerance */
#define MW_SUP_STEP 1.15    /* neighbouring corners at most this ratio apart */
#define MW_SUP_SOFT 0.97    /* a drive this close to a bound ends the session */
#define MW_SUP_RESTART 0.004 /* a hold ends when each corner stores at most this of min(L, rail) */

enum {                      /* what a measured ratio is a ratio of */
    MW_SUP_CURRENT = 0,     /* the current that flows, to L */
    MW_SUP_STORED = 1,      /* the stored charge (an abrupt zero's current), to L */
    MW_SUP_RAIL = 2,        /* the drive, to the DAC's swing */
    MW_SUP_DRIVE = 3        /* the drive, to L: what flows if the card is in fact DC-coupled */
};

typedef struct {
    int k;                          /* corners modelled (1 .. MW_SUP_K) */
    double f[MW_SUP_K];             /* each corner, Hz */
    double d[MW_SUP_K];             /* exp(-2 pi f_k / rate) */
    double c[MW_SUP_K];             /* 1 - d_k */
    double inv_c[MW_SUP_K];         /* 1 / (1 - d_k) */
    int nominal;                    /* the declared corner (corner_hz's index) */
    int nominal_pair;               /* a bridged pair's loop's (pair_hz's index; nominal if the same) */
    int moving;                     /* the corner may move from sample to sample within [f_0, f_(k-1)]
                                     * (a voltage-mode stage: its load changes): see below */
    double limit;                   /* L: the current bound, uA-equivalent */
    double bleed;                   /* drive change per sample while bleeding */
    int measure;                    /* 1: clamp nothing, record the worst ratio */
    double between_ua;              /* the soft bound's room for what the specs' own current rings past
                                     * the samples at the highest level, uA (0: a held DAC; measure) */
    double pre_ring;                /* ... and for what a cut of the pre-emphasis rings, a fraction of it */
    /* what happened */
    uint64_t clamped;               /* samples whose drive was clamped */
    uint64_t tight;                 /* samples within MW_SUP_SOFT of a bound */
    double peak[4];                 /* measure: the largest current, stored charge and drive (MW_SUP_*), uA-eq */
    double peak_pre;                /* measure: the largest pre-emphasis (the drive less the current asked, or
                                     * the whole drive while bleeding), uA-eq: a cut steps it to zero too */
    double worst;                   /* measure: the largest ratio to a bound */
    int64_t worst_at;               /* ... at this sample */
    int worst_what;                 /* ... of this kind (MW_SUP_*) */
    int worst_corner;               /* ... for this corner (index) */
    int worst_channel;              /* ... on this program channel */
    int64_t over_at;                /* measure: the first sample whose ratio passed 1 (-1: none), where a
                                     * refusal's cause lies (the worst may come much later) */
    int over_what;                  /* ... of this kind (MW_SUP_*) */
    int over_channel;               /* ... on this program channel */
} mw_sup;

typedef struct {                    /* one program channel's coupling */
    int nominal;                    /* the corner its pre-emphasis inverts (mw_sup.nominal or
                                     * .nominal_pair, set by the caller once mw_sup_init has run) */
    double x;                       /* the last drive, uA-equivalent (as the DAC was given it) */
    double xb;                      /* ... before the float sample rounded it: what a bleed steps from */
    double q[MW_SUP_K];             /* stored charge per corner, uA-equivalent */
    double rail;                    /* |x| bound, uA-equivalent */
    double gain;                    /* DAC units per uA-equivalent */
    /* measure: what a hold at any sample so far would change (see mw_sup_run) */
    double lo, hi;                  /* the least and the most q[nominal] so far (0, the start, among them) */
    double gap[MW_SUP_K];           /* max over samples p so far of |q_k(p) - q_nominal(p)| d_k^(now - p) */
    /* a moving corner: the least (v[0]) and the most (v[1]) the coupling may
     * store, whatever corner in the range each sample had */
    double v[2];
} mw_sup_ch;

/* The corners modelled for a coupling somewhere in [lo_hz, hi_hz] (0 < lo_hz
 * <= corner_hz <= pair_hz <= hi_hz): from lo_hz to hi_hz, geometrically
 * spaced at most MW_SUP_STEP apart below corner_hz, between it and pair_hz
 * and above pair_hz, both of which are among them, exactly (at least
 * MW_SUP_MIN_K unless the range is within 1e-9 of one corner).  pair_hz is
 * the nominal corner of a bridged pair's loop where it differs from a
 * single channel's (a voltage-mode stage: the two capacitors in series,
 * twice corner_hz), else corner_hz.  Returns how many that is; writes
 * them, slowest first, into f (MW_SUP_K doubles, or NULL) only if it is at
 * most MW_SUP_K.  For a tolerance t, [lo_hz, hi_hz] is corner_hz x (1 -+ t);
 * a voltage-mode stage whose card capacitor drives the load itself widens it
 * by the load range (Stage.corner_range_hz). */
int mw_sup_corners(double corner_hz, double pair_hz, double lo_hz, double hi_hz, double* f);

/* Set up the model for the corners of mw_sup_corners, corner_hz and pair_hz
 * the nominal ones (what a channel's pre-emphasis inverts: the caller sets
 * each mw_sup_ch's nominal to s->nominal or s->nominal_pair).  Returns 0,
 * or -1 (nothing set up) where the range needs more than MW_SUP_K corners
 * or is not 0 < lo_hz <= corner_hz <= pair_hz <= hi_hz. */
int mw_sup_init(mw_sup* s, double corner_hz, double pair_hz, double lo_hz, double hi_hz, double rate,
                double limit_ua, double bleed_fraction);

/* buf: n samples of current asked (uA) -> the DAC values, in place.
 * t0: the sample index of buf[0] (for the measured worst's place).
 * bleed: ignore buf and move the drive towards zero instead. */
void mw_sup_run(mw_sup* s, mw_sup_ch* ch, int channel, float* buf, int64_t n, int64_t t0, int bleed);

/* The drive is zero: closing the stream now changes nothing. */
int mw_sup_settled(const mw_sup_ch* ch);

/* Settled, and what the coupling stores is at most MW_SUP_RESTART of
 * min(L, rail) at every corner: a session may start (again) from here.
 * Played on from a stored charge q0, the pre-emphasis keeps it (the drive
 * carries q0 for good, as the capacitor's voltage) and every measure of
 * the soft bound moves by at most (2 + pre_ring) |q0| -- the current
 * |x - q_k| by q0 less what corner k stores of it, the drive and the
 * stored charge by |q0|, the pre-emphasis's ring by pre_ring |q0|; a
 * bleed leaves up to bleed_fraction of L, which at a session's highest
 * level ended it (a review: after a rewind mid-pulse, through 1, 5 and
 * 50 Hz corners).  Stage.assess keeps that room below MW_SUP_SOFT, so a
 * session played on after a hold is no closer to its bounds than at its
 * first start.  Until then the drive stays at zero and the charge flows
 * out on its own, decaying with each corner's time constant. */
int mw_sup_drained(const mw_sup* s, const mw_sup_ch* ch);


#endif
