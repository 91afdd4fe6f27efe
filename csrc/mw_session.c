/* mw_session.c -- the session's fill and the PortAudio callback (see mw_session.h). */
#include <math.h>
#include <string.h>
#include "mw_session.h"
#include "mw_guard.h"
#include "mw_port.h"
#include "mw_stream.h"

enum {
    PA_CONTINUE = 0,
    PA_COMPLETE = 1,
    PA_INPUT_UNDERFLOW = 1,
    PA_INPUT_OVERFLOW = 2,
    PA_OUTPUT_UNDERFLOW = 4,
    PA_OUTPUT_OVERFLOW = 8
};

/* a step's gate: a soft start, a hold, a soft stop, and the silent last unit */
static const int GATE_SHAPE[MW_GATE_SEGS] = {MW_SHAPE_COSINE, MW_SHAPE_HOLD, MW_SHAPE_COSINE, MW_SHAPE_HOLD};
static const double GATE_A[MW_GATE_SEGS] = {0.0, 1.0, 1.0, 0.0};
static const double GATE_B[MW_GATE_SEGS] = {1.0, 1.0, 0.0, 0.0};

/* A step's gate from its segments' lengths (a segment of no sample is
 * left out; a gate of no sample at all is silent, never unity). */
static void set_gate(mw_envelope *g, const int64_t *seg)
{
    int i;
    g->n = 0;
    g->loop = 0;
    g->after = 0.0;
    for (i = 0; i < MW_GATE_SEGS; i++) {
        if (seg[i] > 0) {
            g->length[g->n] = seg[i];
            g->shape[g->n] = GATE_SHAPE[i];
            g->a[g->n] = GATE_A[i];
            g->b[g->n] = GATE_B[i];
            g->n += 1;
        }
    }
    if (g->n == 0) {
        g->n = 1;
        g->length[0] = 1;
        g->shape[0] = MW_SHAPE_HOLD;
        g->a[0] = g->b[0] = 0.0;
    }
}

void sess_enter_step(mw_session *s, int i)
{
    int c, k, u, best = -1;
    mw_program *p;
    if (i >= s->n_steps)
        return;
    for (k = 0; k < s->n_slots; k++) {
        best = k;
        for (c = 0; c < s->n_ch; c++) {
            if (s->slot_owner[k * s->n_ch + c] != s->step_prog[i * s->n_ch + c]) {
                best = -1;
                break;
            }
        }
        if (best >= 0)
            break;
    }
    if (best < 0)
        best = (s->cur + 1) % s->n_slots;
    s->cur = best;
    for (c = 0; c < s->n_ch; c++) {
        p = &s->slots[best * s->n_ch + c];
        u = s->step_prog[i * s->n_ch + c];
        if (s->slot_owner[best * s->n_ch + c] != u) {
            program_load(p, &s->uniq[u]);
            s->slot_owner[best * s->n_ch + c] = u;
        }
        if (s->gate != NULL)
            set_gate(&p->gate, s->gate + i * MW_GATE_SEGS);
        program_start(p);
    }
}

static void sess_fill_chunks(mw_session *s, float *out, ptrdiff_t frames);

/* The AC supervisor's decision on the samples since it last decided
 * (tight_mark): one within MW_SUP_SOFT of a bound means that the live level
 * moved with the waveform in a way the check could not see (a steady level
 * up to max_level never gets here).  The session ends as a stop does: the
 * units that start next take a falling gain, then the coupling is bled; the
 * reason is kept for the player to tell.  Taken where the session's
 * position is a multiple of MW_SUP_CHUNK and where a hold starts: samples
 * the blocks do not move. */
static void sess_supervise(mw_session *s)
{
    if (s->stage.sup.tight > s->tight_mark && !s->stop_req) {
        s->stop_req = 1;
        s->supervisor_stop = 1;
    }
    s->tight_mark = s->stage.sup.tight;
}

/* sess_fill into a buffer larger than the last-level cache (an offline
 * render, never an audio callback's block): MW_STREAM_PIECE at a time into
 * a buffer that stays in L1, each piece then streamed out (mw_stream_copy),
 * so that the output is written once, without the read for ownership a
 * plain store to a line out of the cache costs (sess_fill gives the same
 * frames whatever its blocks).  Out of line: its buffer is on the stack
 * only for such a fill. */
static MW_NOINLINE void sess_fill_streamed(mw_session *s, float *out, ptrdiff_t frames)
{
    float buf[MW_STREAM_PIECE];
    const int C = s->stage.out_channels;
    const ptrdiff_t piece = MW_STREAM_PIECE / C;
    ptrdiff_t m;
    while (frames > 0) {
        m = frames < piece ? frames : piece;
        sess_fill_chunks(s, buf, m);
        mw_stream_copy(out, buf, m * C);
        out += m * C;
        frames -= m;
    }
    mw_stream_done();
}

void sess_take_end(mw_session *s)
{
    int64_t seq = mw_acquire_i64(&s->end_seq), end;
    if (seq == s->end_seen)
        return;
    s->end_seen = seq;
    end = mw_acquire_i64(&s->end_req);
    if (s->pos > 0 && end < s->pos + s->unit_max)
        end = s->pos + s->unit_max;
    if (end < s->total) {
        s->fade_to = end - s->unit_max > 0 ? end - s->unit_max : 0;
        s->fade_from = end - s->end_len > 0 ? end - s->end_len : 0;
        s->total = end;
    }
}

void sess_take_asks(mw_session *s)
{
    /* what a request resets first, then the request marked taken (published:
     * whoever sees it taken sees what it reset) */
    int64_t seq = mw_acquire_i64(&s->resume_seq);
    if (seq != s->resume_seen) {
        s->contact_lost = 0;
        s->lost_frames = 0;
        mw_publish_i64(&s->resume_seen, seq);
    }
    seq = mw_acquire_i64(&s->stats_seq);
    if (seq != s->stats_seen) {
        s->callbacks = s->underflows = s->overflows = s->input_overflows = s->frames_out = 0;
        s->cb_seconds_max = s->cb_seconds_sum = 0.0;
        mw_publish_i64(&s->stats_seen, seq);
    }
}

void sess_fill(mw_session *s, float *out, ptrdiff_t frames)
{
    if (MW_HAVE_STREAM && mw_beyond_llc(frames * s->stage.out_channels)) {
        sess_fill_streamed(s, out, frames);
        return;
    }
    sess_fill_chunks(s, out, frames);
}

static void sess_fill_chunks(mw_session *s, float *out, ptrdiff_t frames)
{
    ptrdiff_t done = 0, m, k, f;
    int64_t t0;
    int c, C = s->stage.out_channels;
    double lvl, want, d;
    int hold;
    int cur;
    const float *lev;
    /* a DC stereo stage reads the programs' samples where they are (program_view) */
    const int views = stage_dc_stereo(&s->stage);
    int viewed, kind[2] = {MW_VIEW_OUT, MW_VIEW_OUT};
    const float *src[2] = {NULL, NULL}, *pc[2];
    uint32_t bits[2] = {0, 0};
    ptrdiff_t len[2];
    if (s->unrouted)
        memset(out, 0, frames * C * sizeof(float));
    while (done < frames) {
        m = frames - done;
        if (m > MW_BLOCK)
            m = MW_BLOCK;
        /* an end asked for while this thread fills: from here on, the whole
         * chunk sees it (a chunk that began against the old end, with its
         * fade and its last sample read part before it and part after, had
         * played on past the new end and cut a pulse) */
        sess_take_end(s);
        /* a scheduled end (its fade, its last sample) is decided at its exact
         * sample, whatever the blocks */
        if (s->pos < s->fade_from && s->pos + m > s->fade_from)
            m = s->fade_from - s->pos;
        if (s->pos < s->total && s->pos + m > s->total)
            m = s->total - s->pos;
        /* ... and a chunk holds one step's frames (the record keeps steps apart),
         * past any step of no sample (its end is where it starts) */
        while (s->step < s->n_steps && s->pos >= s->step_end[s->step]) {
            s->step += 1;
            sess_enter_step(s, s->step);
        }
        if (s->step < s->n_steps && s->pos < s->step_end[s->step] && s->pos + m > s->step_end[s->step])
            m = s->step_end[s->step] - s->pos;
        want = (s->pause_req || s->contact_lost || s->stop_req || s->pos >= s->fade_from) ? 0.0 : s->target;
        if (s->holding && !stage_drained(&s->stage))
            want = 0.0;    /* held: what the coupling stores is bled, and flows, before anything plays again */
        /* Through an AC stage a fall of the level to zero goes on to the hold
         * (then the bleed and the drain) even if the pause is lifted or the
         * level raised on the way: a level that dips and comes back without
         * a hold leaves the pre-emphasis short of the charge it would have
         * built through the dip, for good, which the check cannot bound (a
         * review: a pause lifted during its own 0.5 s fall, on a "1s+ 1s-"
         * train at its highest level, was clamped and stopped); played on
         * after a hold, it can (mw_supervisor.h). */
        if (s->holding) {
            s->to_hold = 0;
        } else if (s->stage.ac && (s->to_hold || (want == 0.0 && s->level > 0.0))) {
            s->to_hold = 1;
            want = 0.0;
        }
        if (want > s->max_level)
            want = s->max_level;
        if (want < 0.0)
            want = 0.0;
        cur = s->step < s->n_steps ? s->step : s->n_steps - 1;
        if (want != s->goal) {
            /* a new goal: reach it by a linear ramp of ramp_samples, and of
             * at least three units (the gain is taken one unit at a time) */
            s->goal = want;
            s->slew = fabs(want - s->level) / (s->ramp_samples > s->ramp_min[cur] ? s->ramp_samples : s->ramp_min[cur]);
        }
        if (s->pos >= s->fade_from && s->pos < s->total) {
            /* a scheduled end: whatever ramp is under way, the level is zero by
             * fade_to, so that the last unit that starts ends by the last sample */
            d = s->fade_to > s->pos ? s->level / (s->fade_to - s->pos) : s->level;
            if (d > s->slew)
                s->slew = d;
        }
        /* silent, and the units that started before it are over: the programs
         * may stop (but not during a scheduled end: that runs to its sample) */
        hold = s->level == 0.0 && want == 0.0 && s->quiet >= s->unit_len[cur] && s->pos < s->fade_from;
        if (s->holding && s->stage.ac && s->held % MW_SUP_CHUNK != 0)
            hold = 1;       /* (a hold chunk a block cut short: the hold goes on to the chunk's end) */
        if (s->owed > 0)
            hold = 1;       /* (a rewind's silence: a hold of its length, then the session's start) */
        if (hold || s->finished || s->pos >= s->total) {
            /* paused (or stopped, or ended) at silence: the programs do not
             * advance; the stage runs on zeros and bleeds what an AC coupling
             * stores, by a ramp of the drive (a resume waits for the bleed).
             * A hold starts at an exact sample (see the levels below), where
             * the supervisor decides what it saw since it last did */
            if (s->stage.ac && !s->holding) {
                sess_supervise(s);
                s->held = 0;
            }
            if (s->stop_req || s->pos >= s->total)
                s->finished = 1;
            s->holding = 1;
            /* (the session's position does not move in a hold: the cuts made
             * at its step ends and its fade above do not apply) */
            m = frames - done;
            if (m > MW_BLOCK)
                m = MW_BLOCK;
            /* an AC stage's hold chunks end where the frames held are a
             * multiple of MW_SUP_CHUNK: the hold ends (the bleed done, a
             * resume) at a chunk's start, so there, whatever the blocks */
            if (s->stage.ac && m > MW_SUP_CHUNK - s->held % MW_SUP_CHUNK)
                m = MW_SUP_CHUNK - s->held % MW_SUP_CHUNK;
            if (s->owed > 0) {
                if (m > s->owed)
                    m = s->owed;
                s->owed -= m;
            }
            s->held += m;
            if (views) {
                /* (a DC stage stores nothing to bleed: its programs' zeros, as such) */
                stage_dc_stereo_apply(&s->stage, NULL, NULL, 0, 0, out + done * C, m);
            } else {
                memset(s->scratch, 0, s->n_ch * MW_BLOCK * sizeof(float));
                stage_apply(&s->stage, s->scratch, MW_BLOCK, out + done * C, m, s->pos, 1);
                s->tight_mark = s->stage.sup.tight;     /* (the bleed's own samples near a bound are not a stop) */
            }
            rec_account(&s->rec, &s->stage, out + done * C, m, cur, s->pos, 0, NULL, 0.0, s->underflows_all);
            done += m;
            continue;
        }
        s->holding = 0;
        /* an AC stage's chunks end where the session's position is a
         * multiple of MW_SUP_CHUNK (and where the caller's block ends):
         * the supervisor decides there, whatever the blocks */
        if (s->stage.ac && m > MW_SUP_CHUNK - s->pos % MW_SUP_CHUNK)
            m = MW_SUP_CHUNK - s->pos % MW_SUP_CHUNK;
        /* the live level over this chunk: a gain each unit takes where it starts */
        lvl = s->level;
        lev = NULL;
        if (lvl != 1.0 || want != 1.0) {
            lev = s->levels;
            for (f = 0; f < m; f++) {
                d = want - lvl;
                if (d > s->slew)
                    d = s->slew;
                else if (d < -s->slew)
                    d = -s->slew;
                lvl += d;
                s->levels[f] = (float)lvl;
                if (lvl != 0.0) {
                    s->quiet = 0;
                } else if (++s->quiet == (s->unit_len[cur] > 0 ? s->unit_len[cur] : 1) && want == 0.0) {
                    /* silent, and the units that started before are over:
                     * the chunk ends here, so that the programs are held
                     * from the next sample on, whatever the blocks */
                    m = f + 1;
                    break;
                }
            }
        } else {
            s->quiet = 0;
        }
        s->level = lvl;
        /* run the programs of the current step(s) into scratch (viewed: and the stage) */
        t0 = s->pos;
        k = 0;
        viewed = views && s->step < s->n_steps && m <= s->total - s->pos && m <= s->step_end[s->step] - s->pos;
        if (viewed) {
            /* one step's chunk through a DC stereo stage, which reads each
             * channel's samples once: where they are in the train's tile,
             * or are one value (a rest, a flat top), and every unit keeps
             * its gain, the stage reads them there, not from scratch (the
             * copy or the fill into scratch, then the stage reading it
             * back, were most of the engine's own time); by pieces where
             * both channels are one view each */
            len[0] = len[1] = 0;
            while (k < m) {
                for (c = 0; c < 2; c++) {
                    if (len[c] == 0)
                        len[c] = program_view(&s->slots[s->cur * s->n_ch + c], s->scratch + c * MW_BLOCK + k,
                                              m - k, lev != NULL ? lev + k : NULL, &kind[c], &src[c], &bits[c]);
                }
                f = len[0] < len[1] ? len[0] : len[1];
                if (kind[0] == MW_VIEW_CONST && kind[1] == MW_VIEW_CONST) {
                    stage_dc_stereo_apply(&s->stage, NULL, NULL, bits[0], bits[1], out + (done + k) * C, f);
                } else {
                    for (c = 0; c < 2; c++) {
                        if (kind[c] == MW_VIEW_CONST) {
                            /* (its partner is not: one value read from scratch) */
                            mw_fill_bits(s->scratch + c * MW_BLOCK + k, f, bits[c]);
                            pc[c] = s->scratch + c * MW_BLOCK + k;
                        } else {
                            pc[c] = src[c];
                            src[c] += f;
                        }
                    }
                    stage_dc_stereo_apply(&s->stage, pc[0], pc[1], 0, 0, out + (done + k) * C, f);
                }
                len[0] -= f;
                len[1] -= f;
                k += f;
            }
            s->pos += m;
        }
        while (k < m) {
            f = m - k;
            if (s->total - s->pos < f)
                f = s->total - s->pos;
            if (f <= 0 || s->step >= s->n_steps) {
                for (c = 0; c < s->n_ch; c++)
                    memset(s->scratch + c * MW_BLOCK + k, 0, (m - k) * sizeof(float));
                break;
            }
            if (s->step_end[s->step] - s->pos < f)
                f = s->step_end[s->step] - s->pos;
            for (c = 0; c < s->n_ch; c++)
                program_fill(&s->slots[s->cur * s->n_ch + c], s->scratch + c * MW_BLOCK + k, f,
                             lev != NULL ? lev + k : NULL);
            k += f;
            s->pos += f;
            if (s->pos >= s->step_end[s->step]) {
                s->step += 1;
                sess_enter_step(s, s->step);
            }
        }
        if (s->pos >= s->total)
            s->finished = 1;
        if (!viewed)
            stage_apply(&s->stage, s->scratch, MW_BLOCK, out + done * C, m, t0, 0);
        if (viewed && s->pos >= s->step_end[s->step]) {
            /* the step ends with the chunk: the next one enters once the
             * stage has read the tiles (a step that plays the same
             * programs restarts them in the same slots) */
            s->step += 1;
            sess_enter_step(s, s->step);
        }
        if (s->rec.on) {
            /* the chunk is step cur's; the session advanced over its first pos - t0 frames */
            rec_account(&s->rec, &s->stage, out + done * C, m, cur, t0, s->pos - t0, lev, lvl, s->underflows_all);
            if (s->finished)
                rec_push(&s->rec);      /* the end reaches the writer at once */
        }
        if (s->stage.ac && s->pos % MW_SUP_CHUNK == 0)
            sess_supervise(s);
        done += m;
    }
}

int mw_pa_callback(const void *input, void *output, unsigned long frames,
                   const void *time_info, unsigned long status, void *user)
{
    mw_session *s = (mw_session *)user;
    double t0 = mw_seconds_now(), dt, drive = 0.0, sense = 0.0, a;
    const float *inp = (const float *)input;
    ptrdiff_t f;
    int C = s->stage.out_channels;
    s->streamed = 1;
    sess_take_asks(s);
    s->callbacks += 1;
    if (s->first_dac_time == 0.0 && time_info != NULL)
        /* PaStreamCallbackTimeInfo: inputBufferAdcTime, currentTime, outputBufferDacTime */
        s->first_dac_time = ((const double *)time_info)[2];
    if (status & PA_OUTPUT_UNDERFLOW) {
        s->underflows += 1;
        s->underflows_all += 1;
        s->last_underflow_frame = s->frames_out;
    }
    if (status & PA_OUTPUT_OVERFLOW)
        s->overflows += 1;
    if (status & PA_INPUT_OVERFLOW)
        s->input_overflows += 1;
    if (mw_enter(&s->busy)) {
        sess_fill(s, (float *)output, frames);
        mw_leave(&s->busy);
    } else {
        /* a Python thread is filling this engine (a misuse): never touch the
         * state it is advancing; the DAC returning to zero is within the limit */
        memset(output, 0, frames * C * sizeof(float));
        s->busy_blocks += 1;
    }
    s->frames_out += frames;
    if (inp != NULL && s->sense_channel >= 0) {
        for (f = 0; f < (ptrdiff_t)frames; f++) {
            sense = sense + fabs(inp[f * s->in_channels + s->sense_channel] * s->sense_ua_per_unit);
            s->ring[s->ring_write % s->ring_len] = (float)(inp[f * s->in_channels + s->sense_channel] * s->sense_ua_per_unit);
            s->ring_write += 1;
            drive = drive + fabs(((float *)output)[f * C + s->stage.pos[0]] / s->stage.gain[0]);
        }
        s->drive_total_ua += drive;
        s->sense_total_ua += sense;
        drive /= frames;
        sense /= frames;
        /* exponential moving averages: the input lags the output by the
         * round trip, so only averages over a longer window can be compared */
        a = frames / (s->window_frames + frames);
        s->drive_mean_ua += a * (drive - s->drive_mean_ua);
        s->sense_mean_ua += a * (sense - s->sense_mean_ua);
        if (s->drive_mean_ua >= s->contact_min_ua && s->sense_mean_ua < s->contact_min_ratio * s->drive_mean_ua) {
            s->lost_frames += frames;
            if (s->lost_frames >= s->lost_after)
                s->contact_lost = 1;
        } else {
            s->lost_frames = 0;
        }
    }
    dt = mw_seconds_now() - t0;
    s->cb_seconds_sum += dt;
    if (dt > s->cb_seconds_max)
        s->cb_seconds_max = dt;
    if (s->finished && stage_settled(&s->stage)) {
        /* the coupling is bled; keep streaming silence for a while: the
         * ramp's last samples must be played, not dropped with the device's
         * buffer, and a sense input must see them come back */
        if (s->tail_frames <= 0)
            return PA_COMPLETE;
        s->tail_frames -= frames;
    }
    return PA_CONTINUE;
}
