/* mw_session.h -- a session: steps x channels of programs, the live level
 * control, the output stage, and the PortAudio callback that drives them.
 *
 * microwave._core.SessionEngine builds and owns the struct and every
 * buffer it points to (allocated there, up front, freed there).  The audio
 * thread then runs mw_pa_callback -> sess_fill with no Python and no GIL:
 * nothing here allocates, frees or locks (sess_fill, sess_enter_step and
 * the callback are all audio-thread safe).  The control thread talks to it
 * only through single aligned stores of plain numbers (target level, pause,
 * stop), which the audio thread turns into ramps.
 */
#ifndef MW_SESSION_H
#define MW_SESSION_H
#include <stddef.h>
#include <stdint.h>
#include "mw_program.h"
#include "mw_stage.h"
#include "mw_record.h"

enum {
    MW_BLOCK = 1024,        /* frames the programs run at a time (scratch, levels) */
    MW_SUP_CHUNK = 256,     /* an AC stage's supervisor ends a session, if it must, where the
                             * session's position is a multiple of this (whatever the blocks) */
    MW_GATE_SEGS = 4,       /* a step's gate: soft start, hold, soft stop, silent last unit */
    MW_REWIND_SILENCE = 128 /* frames of silence a rewind from mid-play starts with: the pulse it
                             * left is cut where it was, and a DAC's reconstruction filter rings
                             * after the cut; this far on its ringing is below what the model of
                             * it keeps (microwave._reconstruct.CONTEXT), so the session starts
                             * again as from silence */
};

typedef struct mw_session {
    int n_ch;
    int n_steps;
    int64_t *step_end;         /* absolute end sample of each step */
    int64_t *ramp_min;         /* each step's shortest ramp: three of its units */
    int64_t *unit_len;         /* each step's longest unit, samples */
    int64_t quiet;             /* samples the level has been at zero */
    float *levels;             /* the live level over a chunk (MW_BLOCK) */
    /* The programs.  Memory is bounded by the distinct programs and the
     * channels, not by the steps: each distinct program is compiled once
     * (uniq, never run), each step names one per channel and its gate, and
     * a step runs in a set of n_ch slots whose tiles come from a pool
     * allocated up front, so that entering a step -- in the audio thread --
     * is a copy, never an allocation.  Two sets let a step keep the tiles
     * a step before it recorded, when they play the same programs */
    int n_uniq;
    mw_program *uniq;
    int *step_prog;            /* n_steps * n_ch: indices into uniq */
    int64_t *gate;             /* n_steps * MW_GATE_SEGS samples, or NULL: no gate */
    int n_slots;
    mw_program *slots;         /* n_slots * n_ch */
    int *slot_owner;           /* the uniq program each slot holds (and its tile), -1: none */
    int cur;                   /* the slot set the current step runs in */
    float *scratch;            /* n_ch * MW_BLOCK */
    mw_stage stage;
    int unrouted;              /* some DAC channel has no program: zero it */
    int step;
    int64_t pos;               /* samples of the session played (pauses excluded) */
    int64_t total;             /* the session ends here (auto-off included) */
    /* live control: written by the control thread, read by the audio thread */
    double target;             /* wanted intensity multiplier */
    double max_level;          /* never exceeded, whatever target says */
    int64_t ramp_samples;      /* every level change is a linear ramp this long */
    int64_t fade_from;         /* an early end (auto-off, duration) ramps down from here */
    int64_t fade_to;           /* ... to a level of zero here, a whole unit before its end (total) */
    int pause_req;
    int stop_req;
    /* an end asked for while another thread may be filling (stop_at): the
     * control thread stores end_req (the soonest end asked so far, INT64_MAX
     * for none), then publishes end_seq + 1; the filling thread takes it at
     * a chunk's start (sess_take_end), the only thread that moves total,
     * fade_from and fade_to once a stream plays the session */
    int streamed;              /* a stream plays (or played) it: set by the callback and by the Player
                                * before the stream starts; never cleared */
    int64_t end_req;
    int64_t end_seq;
    int64_t end_seen;          /* (the filling thread's: the last end_seq taken) */
    /* asked by the control thread, taken by the callback at its start (the
     * only thread that then writes what they reset): a resume clears a lost
     * contact (contact_lost, lost_frames), a reset of the statistics zeroes
     * its counts and times.  Each: publish *_seq + 1; the callback's *_seen
     * is the last it took (sess_take_asks) */
    int64_t resume_seq, resume_seen;
    int64_t stats_seq, stats_seen;
    int64_t unit_max;          /* the longest unit of any step, samples */
    int64_t end_len;           /* the longest a controlled end takes to reach silence, samples */
    /* audio-thread state */
    double level;
    double goal;               /* the level the current ramp heads for */
    double slew;               /* level change per sample of that ramp */
    int finished;
    int busy;                  /* a thread (or the callback) is filling it (mw_guard.h) */
    uint64_t busy_blocks;      /* callbacks that found it busy and played silence */
    int supervisor_stop;       /* the supervisor ended the session (a drive too close to a bound) */
    int holding;               /* the programs are held (paused, stopped, ended): the coupling bleeds */
    /* real-time statistics and the sense input (written by the audio thread) */
    uint64_t callbacks, underflows, overflows, input_overflows, frames_out;
    uint64_t last_underflow_frame;   /* frames_out when the last underflow was reported */
    uint64_t underflows_all;         /* underflows since the stream opened (the record's; never reset) */
    double cb_seconds_max, cb_seconds_sum;
    int sense_channel;         /* input channel carrying the sense voltage, -1: none */
    int in_channels;
    double sense_ua_per_unit;  /* input sample -> uA through the sense resistor */
    double contact_min_ratio;  /* measured/driven below this means lost contact */
    double contact_min_ua;     /* ... when the drive is at least this */
    int64_t lost_frames, lost_after;     /* frames without contact so far, and how many mean lost */
    int contact_lost;          /* a pause of its own (the callback's: pause_req is the control thread's) */
    double drive_mean_ua, sense_mean_ua;   /* moving averages of |current|, driven and measured */
    double window_frames;                  /* their time constant (longer than the round trip) */
    double drive_total_ua, sense_total_ua; /* sums of |current| over the whole stream */
    float *ring;               /* recorded sense current, uA */
    int64_t ring_len;
    int64_t ring_write;        /* total written (monotonic) */
    int64_t tail_frames;       /* silence kept streaming after the end (the sense input lags) */
    double first_dac_time;     /* PortAudio's outputBufferDacTime of the first callback (0: none given) */
    mw_record rec;             /* what was delivered, for a writer thread (mw_record.h) */
    /* an AC stage's supervisor and holds, decided at samples the blocks do not move */
    uint64_t tight_mark;       /* stage.sup.tight where the supervisor last decided (or a hold
                                * or a rewind left it): the samples near a bound since then */
    int64_t held;              /* frames since the hold began (an AC stage's hold ends where it is a
                                * multiple of MW_SUP_CHUNK, whatever the blocks) */
    int64_t owed;              /* frames of silence to play before anything else (a rewind's) */
    int to_hold;               /* an AC stage's level is falling to a hold (a pause, a level of zero):
                                * it goes on to the hold, and the drain, even if the pause is lifted */
} mw_session;

/* Write the next `frames` interleaved DAC frames. */
void sess_fill(mw_session *s, float *out, ptrdiff_t frames);

/* Take an end stop_at asked for (end_seq moved past end_seen): from
 * end_req, no sooner than the unit in progress can end (none before the
 * first sample), if sooner than the end already set; the fade starts a
 * ramp before (end_len), reaching silence a whole unit before the end
 * (unit_max).  Called by whoever fills (or holds the guard). */
void sess_take_end(mw_session *s);

/* The resume and the reset of the statistics asked for since the last
 * call (resume_seq, stats_seq), taken: by the callback at its start, or
 * by the control thread when no stream plays the session. */
void sess_take_asks(mw_session *s);

/* Make step ``i``'s programs the ones that run, from its first sample: in
 * the slot set that already holds them (their tiles recorded), else in the
 * set the step before did not use.  Copies; never allocates. */
void sess_enter_step(mw_session *s, int i);

/* PortAudio stream callback (user: the mw_session): no Python, no GIL, no
 * allocation, no lock. */
int mw_pa_callback(const void *input, void *output, unsigned long frames,
                   const void *time_info, unsigned long status, void *user);

#endif
