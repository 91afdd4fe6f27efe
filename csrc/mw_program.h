/* mw_program.h -- one channel's program: a pulse train (with its polarity
 * pattern) shaped by an envelope.  This is the unit the renderers, the
 * output stage and the real-time callback drive, one block at a time, with
 * no Python involved.
 *
 * Gain is applied a pulse at a time.  The envelope, a session step's soft
 * start and stop (the gate) and the session's live level make a gain that
 * moves sample by sample; a pulse (or an alternating pair of monophasic
 * pulses: a *unit*) takes that gain at the sample where it starts and keeps
 * it to its end, so that its phases carry equal and opposite charge however
 * the gain moves.  Units never overlap (a pulse ends before the next one
 * starts), except in the one sample where a unit starts: there the part of
 * the sample before the onset keeps the previous unit's gain.
 *
 * How (mw_program.c): where the train copies its tile, each unit's samples
 * are scaled on their way from the tile (train_span), else the train
 * renders a chunk and the gains follow while it is in L1; where the units
 * are a whole number of samples apart (a regular train without bursts or
 * pattern), the gains of up to 64 of them are worked out together
 * (gain_run).  Every way takes the same float operations: the same bits.
 *
 * Memory: a program owns what its train owns (mw_train.h): program_start
 * may allocate the tile of a train that is not pooled, program_release
 * frees it.  In the audio thread only pooled programs run (a session's
 * slots): program_load, program_start, program_fill never allocate then.
 */
#ifndef MW_PROGRAM_H
#define MW_PROGRAM_H
#include <stddef.h>
#include <stdint.h>
#include "mw_train.h"
#include "mw_envelope.h"

typedef struct mw_program {
    mw_train train;
    mw_envelope env;     /* the spec's own envelope (ramps, wave slope) */
    mw_envelope gate;    /* a session step's soft start and soft stop */
    int busy;            /* a thread is filling it (mw_guard.h) */
    /* one gain per unit: the train's schedule and pattern walked in step */
    int unit_pulses;     /* pulses a unit: 1, or 2 (an alternating pair of monophasic pulses) */
    mw_schedule gsched;
    mw_pattern gpat;
    int64_t gpos;        /* absolute sample of the next gain to apply */
    int64_t gpos_env;    /* the envelope's and the gate's position (absolute sample) */
    int g_has_next;      /* the next pulse's onset (whole + frac samples) and signed amplitude */
    int64_t g_next_w;
    double g_next_f, g_next_a;
    int64_t g_k;         /* index of that pulse */
    double g_last_end;   /* where the pulse before it ends (absolute samples) */
    float held;          /* the gain of the unit in progress */
} mw_program;

/* Rewind to sample 0 (train, envelope, gate and the gain walk). */
void program_start(mw_program *p);

/* The next n samples: the train at unit gain, then one gain per unit.
 * ``level`` (n samples, or NULL for 1) is a gain from outside (the
 * session's live level). */
void program_fill(mw_program *p, float *out, ptrdiff_t n, const float *level);

/* program_fill(p, out, n, NULL) in two parts that may run at once, in two
 * threads (mw_train.h: train_split_begin): 1 if it applies (a program
 * with no gain to apply whose train splits), and then the caller runs
 * train_split_first and train_split_second, in any order or at once, and
 * then program_split_end; 0 if not (nothing done: program_fill it).
 * program_split_fits: whether it would apply (nothing done). */
int program_split_fits(const mw_program *p, ptrdiff_t n);
int program_split_begin(mw_program *p, float *out, ptrdiff_t n, mw_split *job);
void program_split_end(mw_program *p, mw_split *job);

/* The next samples (at most n, at least 1) as program_fill writes them
 * (level NULL: no live level), where possible without writing them: for a
 * stage that reads them once and leaves them (a session's DC stereo
 * stage, mw_session.c).  Returns how many, and *kind: MW_VIEW_SRC, they
 * are the floats at *src (the train's tile: read only, valid until the
 * train moves on or restarts); MW_VIEW_CONST, each is the float of bits
 * *bits; MW_VIEW_OUT, they were written into out (*src = out).  The same
 * samples, the program moved on alike, whichever it returns. */
enum { MW_VIEW_OUT = 0, MW_VIEW_SRC = 1, MW_VIEW_CONST = 2 };
ptrdiff_t program_view(mw_program *p, float *out, ptrdiff_t n, const float *level, int *kind, const float **src,
                       uint32_t *bits);

/* Free what program_start allocated (the train's tile). */
void program_release(mw_program *p);

/* After a byte copy of another program: drop the pointers it owns. */
void program_disown(mw_program *p);

/* The floats a tile of this program's train may need (0: never tiled). */
int64_t program_tile_need(const mw_program *p);

/* Make ``slot`` -- a program whose tile and saved state belong to a pool --
 * a copy of ``src`` (a compiled program that is never run), keeping the
 * slot's buffers, its tile not yet recorded.  Nothing is allocated or
 * freed, so the audio thread may do it. */
void program_load(mw_program *slot, const mw_program *src);

/* Some gain other than 1 may apply (an envelope or a gate). */
static inline int program_shaped(const mw_program *p)
{
    return p->env.n > 0 || p->gate.n > 0;
}

#endif
