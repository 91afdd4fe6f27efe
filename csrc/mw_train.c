/* mw_train.c -- the train kernel (see mw_train.h for the contract). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mw_train.h"
#include "mw_stream.h"
#include "mw_port.h"

static inline void train_fetch(mw_train *s)
{
    double amp;
    s->has_next = sched_next(&s->sched, &s->next_w, &s->next_f, &amp);
    if (s->has_next)
        s->next_a = s->sign * amp * pattern_sign(&s->pat, s->next_w);
}

/* whether a timed pattern has an alternating state (plain + / - / rest
 * states give each pulse the sign of where its onset falls in the cycle) */
static inline int tile_timed_alt(const mw_pattern *p)
{
    int i;
    for (i = 0; i < p->n; i++)
        if (p->kind[i] == MW_POL_ALT)
            return 1;
    return 0;
}

/* train_repeat of a regular train (with bursts), before a timed pattern's
 * cycle: C pulses in a counted pattern's cycle; 0 if over MW_TILE_MAX. */
static inline int64_t train_repeat_regular(const mw_schedule *sc, int64_t C)
{
    int64_t num, den, R, nb, bnum, bden, g;
    mw_rat clock;
    /* (dens may be shared with the delay or the burst, so not reduced) */
    den = sc->period.den;
    if (sc->period.whole > MW_TILE_MAX)
        return 0;
    num = sc->period.whole * den + sc->period.rem;          /* period = num / den samples */
    g = mw_gcd(num, den);
    num /= g;
    den /= g;                                               /* den pulses span num samples */
    if (!sc->has_burst) {
        R = den / mw_gcd(den, C) * C;
        if (R > MW_TILE_MAX || R * sc->period.whole > MW_TILE_MAX)
            return 0;
        return R / den * num;
    } else {
        /* bursts of nb pulses */
        bden = sc->burst_cycle.den;
        if (sc->burst_cycle.whole > MW_TILE_MAX)
            return 0;
        bnum = sc->burst_cycle.whole * bden + sc->burst_cycle.rem;
        g = mw_gcd(bnum, bden);
        bnum /= g;
        bden /= g;                                          /* bden bursts span bnum samples */
        /* pulses that start in a burst, counted as the schedule does */
        nb = 0;
        clock.whole = clock.rem = 0;
        clock.den = sc->period.den;
        while (!rat_ge(&clock, &sc->burst_on)) {
            nb += 1;
            if (nb > MW_TILE_MAX)
                return 0;
            rat_add(&clock, &sc->period);
        }
        C = C / mw_gcd(nb, C);                              /* bursts in a whole pattern cycle */
        R = bden / mw_gcd(bden, C) * C;
        if (R > MW_TILE_MAX || R * sc->burst_cycle.whole > MW_TILE_MAX)
            return 0;
        return R / bden * bnum;
    }
}

/* Samples after which the train (without its end) repeats exactly (at
 * most MW_TILE_MAX), or 0 if it may not (a train with no pulse at all
 * is not tiled by its caller).
 *
 * Onsets are delay + (burst) + k * period with rational period num/den:
 * den/gcd(num, den) pulses (or bursts) span a whole number of samples,
 * and a counted polarity pattern of C pulses repeats after a multiple of
 * C pulses; the repeat is the least common multiple of both.  A timed
 * pattern (its states start on fixed samples) repeats after its cycle,
 * so the repeat is also a multiple of that.  A custom train whose loop is
 * a whole number of samples (c_loop_whole) repeats after the loops that
 * hold a whole number of pattern cycles.  A sweep's held tail (tail_k) is
 * a regular train: it repeats as one from its first pulse on (not under a
 * timed pattern with an alternating state, whose count the sweep's pulses
 * would start). */
static inline int64_t train_repeat(const mw_train *s)
{
    int64_t C = 1, R, T, cycle = 0;
    int i;
    const mw_schedule *sc = &s->sched;
    if (s->no_tile || !(sc->kind == MW_SCHED_REGULAR || sc->tail_k > 0
                        || (sc->kind == MW_SCHED_CUSTOM && sc->c_loop_whole > 0)))
        return 0;
    if (sc->tail_k > 0 && s->pat.by_time && s->pat.n > 1 && tile_timed_alt(&s->pat))
        return 0;
    if (s->pat.n > 0) {
        if (s->pat.n == 1) {
            /* one state: alternating flips every pulse (a timed one never
             * restarts), any other sign is constant */
            C = s->pat.kind[0] == MW_POL_ALT ? 2 : 1;
        } else if (s->pat.by_time) {
            for (i = 0; i < s->pat.n; i++) {
                cycle += s->pat.length[i];
                if (cycle > MW_TILE_MAX)
                    return 0;
            }
        } else {
            C = 0;
            for (i = 0; i < s->pat.n; i++) {
                C += s->pat.length[i];
                if (C > MW_TILE_MAX)
                    return 0;
            }
        }
    }
    if (sc->kind == MW_SCHED_CUSTOM) {
        if (sc->c_loop_whole > MW_TILE_MAX)
            return 0;
        R = C / mw_gcd(sc->c_n, C);                         /* loops in a whole pattern cycle */
        if (R > MW_TILE_MAX / sc->c_loop_whole)
            return 0;
        T = R * sc->c_loop_whole;
    } else {
        T = train_repeat_regular(sc, C);
        if (T <= 0)
            return 0;
    }
    if (cycle > 0)
        T = T / mw_gcd(T, cycle) * cycle;
    return T <= MW_TILE_MAX ? T : 0;
}

/* For a repeat of T samples: the tile's length L (whole repeats, at
 * least MW_TILE samples), its near part, and the floats its buffer needs. */
static inline int64_t tile_size(int64_t T, int64_t *L, int64_t *near)
{
    int64_t a, k;
    L[0] = T < MW_TILE ? T * (MW_TILE / T) : T;
    /* whole repeats adding up to a multiple of 16 samples, so that a copy
     * that wraps stays as aligned as the output */
    a = 16 / mw_gcd(T, 16);
    k = MW_TILE_NEAR / T / a * a;
    if (k == 0)
        k = a;
    near[0] = T * k <= L[0] ? T * k : L[0];
    /* the tile, 64-byte aligned, then (for a short repeat) a second copy of
     * its near part 16 bytes off a 32-byte boundary: memcpy is up to 2.7x
     * slower when source and destination disagree on their 32-byte offset */
    return L[0] + (near[0] < L[0] ? near[0] + 8 + 4 : 0);
}

int64_t train_tile_need(const mw_train *s)
{
    int64_t L, near, T = train_repeat(s);
    return T > 0 ? tile_size(T, &L, &near) : 0;
}

void train_disown(mw_train *s)
{
    s->tile_nseg = 0;
    s->tile_rec = 0;
    s->replaying = 0;
    s->tile = NULL;
    s->tile_alt = NULL;
    s->snap = NULL;
    s->tile_cap = 0;
    s->tile_ready = 0;
    s->periodic = 0;
    s->recording = 0;
}

void train_release(mw_train *s)
{
    if (s->pooled)
        return;
    mw_aligned_free(s->tile);
    free(s->snap);
    train_disown(s);
}

static inline void train_plan_tile(mw_train *s)
{
    /* With T the repeat and the first onset in sample w (or, for a timed
     * pattern, the end of the state it falls in; for a sweep, the first
     * onset of its held tail, after which no pulse of the sweep sounds
     * either), every sample
     * m >= tile_start = w + ceil(end) + 2 equals sample m + T: a pulse that
     * reaches m + T starts after m + T - end - 1 >= w + T + 1, so its
     * counterpart T earlier starts after the first onset and is a pulse of
     * the train too; and every pulse reaching m has one T later.  With an
     * end, samples before end_whole - 1 are those of the endless train.
     * Where the onsets are at least a period apart (no bursts) the margin
     * shrinks by that period (see gap below), down to sample 0. */
    int64_t T, L, start, stop, near, need, gap;
    float *buf;
    if (s->tile_ready) {
        s->periodic = 1;                /* same parameters, same tile */
        return;
    }
    T = s->has_next ? train_repeat(s) : 0;
    if (T <= 0)
        return;
    need = tile_size(T, &L, &near);
    start = s->next_w;
    if (s->sched.tail_k > 0)
        start = s->sched.delay.whole;   /* a sweep: from its held tail's first onset */
    if (s->pat.by_time && s->pat.n > 1 && s->pat.state_end > start && tile_timed_alt(&s->pat)) {
        /* a timed state that began before the first pulse holds fewer pulses
         * than it will in later cycles, and an alternating state's signs
         * count its pulses: the train repeats from the next state.  (With
         * no alternating state a pulse's sign is a function of its onset
         * alone, so the train repeats from its first pulse: INFUSE's tile
         * then begins 3 s earlier, not after the first positive state.) */
        start = s->pat.state_end;
    }
    gap = 0;
    if (start == s->next_w && s->sched.kind == MW_SCHED_REGULAR && !s->sched.has_burst) {
        /* The pulse before the one at w + T starts a period earlier or more,
         * so it ends before w + T + 1 - period + end: from w + end + 2 -
         * period on, what sample m + T holds beyond m's pulses is nothing.
         * A slow train (LIFT: 1 Hz, 450 ms pulses) then repeats from sample
         * 0, and no pass renders its first pulse again.  (Bursts: the gap
         * before a burst may be shorter; a moved start: the pulses before
         * it are there.) */
        gap = s->sched.period.whole;
    }
    start += (int64_t)ceil(s->tpl.end) + 2 - gap;
    if (start < 0)
        start = 0;
    start = (start + 15) / 16 * 16;     /* tile[0] on a 64-byte boundary of an aligned stream */
    stop = INT64_MAX;
    if (s->sched.has_end) {
        stop = start + (s->sched.end_whole - 1 - start) / T * T;
        if (stop < start + L)
            return;                     /* too short to be worth a tile */
        if (s->snap == NULL) {
            if (s->pooled)
                return;
            s->snap = (mw_train *)malloc(sizeof(mw_train));
            if (s->snap == NULL)
                return;
        }
    }
    if (!s->sched.has_end && s->snap == NULL && !s->pooled)
        s->snap = (mw_train *)malloc(sizeof(mw_train));   /* for a resume (train_start); may fail */
    if (s->tile == NULL || s->tile_cap < need) {
        if (s->pooled)
            return;                     /* the pool's buffer is too small: pulse by pulse */
        buf = (float *)mw_aligned_alloc(64, (size_t)need * sizeof(float));
        if (buf == NULL)
            return;                     /* no memory: the train is rendered pulse by pulse */
        mw_aligned_free(s->tile);
        s->tile = buf;
        s->tile_cap = need;
    }
    s->tile_start = start;
    s->tile_stop = stop;
    s->tile_len = L;
    s->tile_near = near;
    s->tile_alt = near < L ? s->tile + (L + 7) / 8 * 8 + 4 : NULL;
    if (s->tile_rec > 0 && s->tile_rec < L && stop == INT64_MAX) {
        /* a recording cut short by a rewind (train_start): copy what it
         * recorded, then take up its state there and record on */
        s->tile_stop = start + s->tile_rec;
        s->replaying = 1;
        s->periodic = 1;
        return;
    }
    s->tile_rec = 0;
    s->tile_nseg = 0;
    s->tile_segk = 0;
    s->recording = 1;
}

static void tile_split(mw_train *s, int64_t L);

void train_start(mw_train *s)
{
    /* A rewind while recording the tile of a train without an end: keep the
     * samples recorded and the state they end in (snap), so that the next
     * pass copies them and records on from there.  Without this a train
     * rewound every pass before its tile is whole (a burst train's repeat
     * in passes of one repeat: its tile starts after the first pulse)
     * would render and record every pass and never copy. */
    if (s->recording && s->n > s->tile_start && s->snap != NULL && !s->sched.has_end) {
        s->snap[0] = s[0];
        s->tile_rec = s->n - s->tile_start;
        tile_split(s, s->tile_rec);     /* (split again when whole) */
    }
    s->n = 0;
    sched_reset(&s->sched);
    pattern_reset(&s->pat);
    s->has_cur = 0;
    s->has_prev = 0;
    s->cur_cached = 0;
    s->cacheable = (s->sched.kind == MW_SCHED_REGULAR &&
                    s->sched.period.den * (s->sched.has_burst ? s->sched.burst_cycle.den : 1) <= MW_MAX_FRACS);
    s->periodic = 0;
    s->recording = 0;
    train_fetch(s);
    train_plan_tile(s);
}

/* The state saved in snap taken up, with what the train owns and how it
 * writes kept (the tile, its copy, the snap itself, the stream flag), and
 * neither copying from the tile nor replaying; keep gets the train as it
 * was, for what a caller keeps besides. */
static inline void train_take_snap(mw_train *s, mw_train *keep)
{
    keep[0] = s[0];
    s[0] = s->snap[0];
    s->tile = keep->tile;
    s->tile_alt = keep->tile_alt;
    s->snap = keep->snap;
    s->tile_cap = keep->tile_cap;
    s->stream = keep->stream;
    s->tile_rec = 0;
    s->replaying = 0;
    s->periodic = 0;
}

static inline void train_leave_tile(mw_train *s)
{
    /* at tile_stop: the state saved at tile_start, moved on by the whole
     * repeats in between (onsets, clocks and a timed pattern's state end
     * shift by D samples; a counted pattern is back where it was), with the
     * end checked again */
    int64_t D = s->tile_stop - s->tile_start;
    mw_train keep;
    train_take_snap(s, &keep);
    s->tile_ready = keep.tile_ready;
    s->tile_nseg = keep.tile_nseg;      /* (split after the snap was taken) */
    s->tile_segk = keep.tile_segk;
    memcpy(s->tile_seg, keep.tile_seg, sizeof(s->tile_seg));
    s->recording = 0;
    s->n += D;
    s->cur_w += D;
    s->prev_w += D;
    s->next_w += D;
    if (s->sched.kind == MW_SCHED_CUSTOM)
        sched_custom_shift(&s->sched, D);
    else if (s->sched.has_burst)
        s->sched.burst_clock.whole += D;
    else
        s->sched.pulse_clock.whole += D;
    if (s->pat.n > 0 && s->pat.by_time)
        s->pat.state_end += D;          /* a timed pattern's states end on absolute samples */
    if (s->has_next && sched_past_end(&s->sched, s->next_w, s->next_f)) {
        s->has_next = 0;
        s->sched.done = 1;
    }
}

/* at tile_stop while replaying a recording cut short: its state there */
static MW_NOINLINE void train_resume(mw_train *s)
{
    mw_train keep;
    train_take_snap(s, &keep);
    /* (tile_stop, INT64_MAX: a train without an end, as saved) */
    s->tile_nseg = 0;                   /* (the partial split; made again when whole) */
    s->recording = 1;
}

/* called when a new pulse becomes current */
static inline void train_consider_cache(mw_train *s)
{
    double x = s->cur_f + s->tpl.end;
    int64_t L = (int64_t)x;             /* ceil of x >= 0, without a libm call */
    int k;
    if (L < x)
        L += 1;
    s->cur_len = L;
    /* a short pulse that shares no sample with its neighbours is rendered in
     * one pass into a slot and copied from there; where onsets take few
     * sub-sample fractions the slot is kept for the next pulse alike */
    s->cur_cached = (L <= MW_CACHE && !s->no_slots
                     && (!s->has_prev || s->prev_w + s->prev_f + s->tpl.end <= (double)s->cur_w)
                     && (!s->has_next || s->next_w >= s->cur_w + L));
    if (!s->cur_cached)
        return;
    if (!s->cacheable) {
        /* a pulse of its own: rendered where it is written (train_render
         * writes it straight into the output when it fits in the block,
         * into a slot otherwise) */
        s->cur_slot = -1;
        return;
    }
    for (k = 0; k < MW_SLOTS; k++) {
        if (s->slot_valid[k] && s->slot_f[k] == s->cur_f && s->slot_a[k] == s->cur_a) {
            s->cur_slot = k;
            return;
        }
    }
    k = s->next_slot;
    s->next_slot = (k + 1) % MW_SLOTS;
    tpl_render(&s->tpl, s->cur_f, s->cur_a, s->cache[k], L);
    s->slot_f[k] = s->cur_f;
    s->slot_a[k] = s->cur_a;
    s->slot_valid[k] = 1;
    s->cur_slot = k;
}

/* the next pulse becomes current */
static inline void train_advance(mw_train *s)
{
    s->prev_w = s->cur_w;
    s->prev_f = s->cur_f;
    s->prev_a = s->cur_a;
    s->has_prev = s->has_cur;
    s->cur_w = s->next_w;
    s->cur_f = s->next_f;
    s->cur_a = s->next_a;
    s->has_cur = 1;
    train_fetch(s);
    train_consider_cache(s);
}

static inline void fill_const(float *out, ptrdiff_t m, float value)
{
    ptrdiff_t j;
    for (j = 0; j < m; j++)
        out[j] = value;
}

/* m zeros of a rest, a long one by streaming stores in a fill that streams */
static inline void fill_rest_run(float *out, ptrdiff_t m, int stream)
{
    if (stream && m >= 1024)
        mw_stream_fill(out, m, 0.0f);
    else
        fill_const(out, m, 0.0f);
}

/* zeros between pulses (long in sparse trains) */
static inline void fill_rest(const mw_train *s, float *out, ptrdiff_t m)
{
    fill_rest_run(out, m, s->stream && !s->recording);
}

enum { MW_REST_SHORT = 64 };     /* train_run_rect: a rest up to this long is zeroed by stores of 8 */

/* Pulses of their own of a rectangular template that fit whole in the
 * block, one after the other, from out[pos] (the current pulse's onset
 * sample) on: the loop of train_render's pulses of their own, with the
 * train's state in locals, train_advance and train_consider_cache written
 * out for this case (the same state is left behind).  Each pulse
 * (tpl_rect_write from the template's table of layouts, else tpl_rect_n)
 * writes its L samples and up to 7 past them; the rest after it (at least
 * 8 samples, so those too) is zeroed by stores of 8 when short (16 zeros
 * first), with one call when long (streaming stores in a fill that
 * streams).
 * Returns the new pos; s->n and every field train_advance sets are
 * brought up to date.  nflat is t->nflat, a constant where the common counts
 * are dispatched (train_render), so that each pulse's pieces unroll. */
MW_INLINE ptrdiff_t train_run_rect(mw_train *s, float *out, ptrdiff_t pos, ptrdiff_t N, const int nflat)
{
    const mw_template *t = &s->tpl;
    const double end = t->end;
    int64_t n = s->n, L = s->cur_len, he;
    int64_t pw = s->prev_w, cw = s->cur_w, nw = s->next_w;
    double pf = s->prev_f, pa = s->prev_a, cf = s->cur_f, ca = s->cur_a, nf = s->next_f, na = s->next_a;
    double amp, x;
    int has_prev = s->has_prev, has_next = s->has_next, cached = 1;
    int stream = s->stream && !s->recording;
    ptrdiff_t g, q;
    int k;
    const mw_rect_lay *lay = tpl_rect_lay(t, cf);   /* the pulse's layout, if the template's table has it */
    const mw_rect_lay *next_lay = tpl_rect_lay(t, nf);  /* the next one's, looked up a pulse ahead */
    mw_sched_cursor cur = sched_cursor(&s->sched);
    const mw_rect_consts kt = tpl_rect_consts(t, nflat);
    for (;;) {
        if (lay != NULL) {
            tpl_rect_write(&kt, lay, cf, ca, out + pos, N - pos, nflat);
        } else {
            x = cf + end;
            he = (int64_t)x;            /* the pulse's last piece's (int64_t)(top + f), for tpl_rect_n */
            if (!tpl_rect_n(t, cf, ca, out + pos, L, N - pos, nflat, he, (double)he))
                tpl_render_rect_any(t, cf, ca, out + pos, L);
        }
        pos += L;
        n += L;
        g = N;
        if (has_next && nw - n < N - pos)
            g = pos + (ptrdiff_t)(nw - n);
        /* the rest until the next onset (g): 16 zeros, then 8 a store
         * while they fit; a long rest by one call.  Samples are written in
         * order, each store's overshoot written again by what follows (the
         * pulse's runs reach up to 7 past it, the rest's stores up to 15
         * past g, or 16 when g == pos): the next pulse and its rest, or the
         * caller, write over them */
        if (g - pos > MW_REST_SHORT) {
            fill_rest_run(out + pos, g - pos, stream);
        } else if (N - pos >= MW_REST_SHORT + 8) {
            for (k = 0; k < 16; k++)
                out[pos + k] = 0.0f;
            for (q = pos + 16; q < g; q += 8)
                for (k = 0; k < 8; k++)
                    out[q + k] = 0.0f;
        } else {
            for (q = pos; q < N && (q < g || q < pos + 8); q++)
                out[q] = 0.0f;
        }
        n += g - pos;
        pos = g;
        if (pos == N || !has_next)
            break;
        /* train_advance: the next pulse (next_w == n) becomes current */
        pw = cw; pf = cf; pa = ca;
        has_prev = 1;
        cw = nw; cf = nf; ca = na;
        lay = next_lay;
        if (cur.i < cur.n) {
            /* sched_next_batched, from the batch's cursor (sched_cursor) */
            nw = s->sched.sw_w[cur.i];
            nf = s->sched.sw_f[cur.i];
            amp = s->sched.sw_a[cur.i];
            cur.i += 1;
            has_next = 1;
        } else {
            sched_cursor_put(&s->sched, &cur);
            has_next = sched_next(&s->sched, &nw, &nf, &amp);
            cur = sched_cursor(&s->sched);
        }
        if (has_next) {
            na = s->sign * amp * pattern_sign(&s->pat, nw);
            next_lay = tpl_rect_lay(t, nf);
        }
        /* train_consider_cache, for a train with no slots to keep (and
         * slots it may use: no_slots was 0 for the first pulse); the tests
         * in one, branch-free */
        if (lay != NULL) {
            L = lay->L;                 /* the same ceil, found at the middle of cf's interval */
        } else {
            x = cf + end;
            he = (int64_t)x;
            L = he + ((double)he < x);  /* ceil of x >= 0: (double)L < x, L += 1 */
        }
        cached = (L <= MW_CACHE) & (pw + pf + end <= (double)cw) & (!has_next | (nw >= cw + L));
        if (!cached | (L > N - pos))
            break;
    }
    sched_cursor_put(&s->sched, &cur);
    s->n = n;
    s->prev_w = pw; s->prev_f = pf; s->prev_a = pa;
    s->cur_w = cw; s->cur_f = cf; s->cur_a = ca;
    s->next_w = nw; s->next_f = nf; s->next_a = na;
    s->has_prev = has_prev;
    s->has_cur = 1;
    s->has_next = has_next;
    s->cur_len = L;
    s->cur_cached = cached;
    if (cached)
        s->cur_slot = -1;
    return pos;
}

/* train_run_rect for 1, 2 (biphasic), 3 (... with a gap) pieces and any
 * count, each a function of its own (out of train_render's loop), with the
 * count a constant in the first three, so that each pulse's pieces unroll */
static MW_NOINLINE ptrdiff_t train_run_rect_1(mw_train *s, float *out, ptrdiff_t pos, ptrdiff_t N)
{
    return train_run_rect(s, out, pos, N, 1);
}

static MW_NOINLINE ptrdiff_t train_run_rect_2(mw_train *s, float *out, ptrdiff_t pos, ptrdiff_t N)
{
    return train_run_rect(s, out, pos, N, 2);
}

static MW_NOINLINE ptrdiff_t train_run_rect_3(mw_train *s, float *out, ptrdiff_t pos, ptrdiff_t N)
{
    return train_run_rect(s, out, pos, N, 3);
}

static MW_NOINLINE ptrdiff_t train_run_rect_any(mw_train *s, float *out, ptrdiff_t pos, ptrdiff_t N)
{
    return train_run_rect(s, out, pos, N, s->tpl.nflat);
}

/* The next N samples, pulse by pulse. */
static inline void train_render(mw_train *s, float *out, ptrdiff_t N)
{
    ptrdiff_t pos = 0, m, j;
    int64_t n;
    double tau, taup, val;
    int i;
    const mw_template *t = &s->tpl;
    int prev_active;
    while (pos < N) {
        n = s->n;
        /* make `cur` the latest pulse whose onset is before n + 1 */
        while (s->has_next && s->next_w <= n)
            train_advance(s);
        m = N - pos;
        if (s->has_next && s->next_w - n < m)
            m = s->next_w - n;          /* >= 1: the next onset is after sample n */
        if (!s->has_cur) {
            fill_rest(s, out + pos, m);
            pos += m;
            s->n += m;
            continue;
        }
        if (s->cur_cached) {
            /* an isolated short pulse: copy its rendering, then rest (it
             * shares no sample with the next pulse) until the next onset */
            if (n < s->cur_w + s->cur_len) {
                if (s->cur_w + s->cur_len - n < m)
                    m = s->cur_w + s->cur_len - n;
                if (s->cur_slot < 0) {
                    if (n == s->cur_w && m == s->cur_len && t->rect) {
                        switch (t->nflat) {
                        case 1: pos = train_run_rect_1(s, out, pos, N); break;
                        case 2: pos = train_run_rect_2(s, out, pos, N); break;     /* biphasic */
                        case 3: pos = train_run_rect_3(s, out, pos, N); break;     /* ... with a gap */
                        default: pos = train_run_rect_any(s, out, pos, N); break;
                        }
                        continue;
                    }
                    if (n == s->cur_w && m == s->cur_len) {
                        /* pulses of their own that fit whole in the block,
                         * one after the other: each straight into the
                         * output, then the rest until the next onset */
                        for (;;) {
                            tpl_render(t, s->cur_f, s->cur_a, out + pos, s->cur_len);
                            pos += s->cur_len;
                            n += s->cur_len;
                            m = N - pos;
                            if (s->has_next && s->next_w - n < m)
                                m = s->next_w - n;
                            fill_rest(s, out + pos, m);
                            pos += m;
                            n += m;
                            if (pos == N || !s->has_next)
                                break;
                            train_advance(s);           /* next_w == n: the next pulse */
                            if (!s->cur_cached || s->cur_slot >= 0 || s->cur_len > N - pos)
                                break;
                        }
                        s->n = n;
                        continue;
                    }
                    /* the pulse straddles the block: into a slot, once */
                    s->cur_slot = s->next_slot;
                    s->next_slot = (s->cur_slot + 1) % MW_SLOTS;
                    s->slot_valid[s->cur_slot] = 0;
                    tpl_render(t, s->cur_f, s->cur_a, s->cache[s->cur_slot], s->cur_len);
                }
                memcpy(out + pos, &s->cache[s->cur_slot][n - s->cur_w], m * sizeof(float));
            } else {
                fill_rest(s, out + pos, m);
            }
            pos += m;
            s->n += m;
            continue;
        }
        tau = (double)(n - s->cur_w) - s->cur_f;
        taup = 0.0;
        prev_active = 0;
        if (s->has_prev) {
            taup = (double)(n - s->prev_w) - s->prev_f;
            prev_active = taup < t->end;
        }
        if (!prev_active && tau >= 0.0) {
            if (tau >= t->end) {
                /* resting between pulses until the next onset */
                fill_rest(s, out + pos, m);
                pos += m;
                s->n += m;
                continue;
            }
            i = 0;
            while (t->tau[i + 1] <= tau)
                i += 1;
            if (tau + 1.0 <= t->tau[i + 1]) {
                /* whole samples inside one piece of the pulse */
                if ((double)m > t->tau[i + 1] - tau) {
                    m = (ptrdiff_t)(t->tau[i + 1] - tau);   /* > 0: truncation is floor */
                    if (m < 1)
                        m = 1;          /* tau + 1 <= tau[i+1] said one sample fits; the difference rounded below 1 */
                }
                if (t->slope[i] == 0.0) {
                    fill_const(out + pos, m, (float)(t->v[i] * s->cur_a));
                } else {
                    /* a linear piece: each sample's average is its middle's value */
                    for (j = 0; j < m; j++) {
                        tau = (double)(n + j - s->cur_w) - s->cur_f;
                        out[pos + j] = (float)(s->cur_a * (t->v[i] + t->slope[i] * (tau + 0.5 - t->tau[i])));
                    }
                }
                pos += m;
                s->n += m;
                continue;
            }
        }
        /* a sample that an edge, a slope or two pulses share: integrate */
        val = s->cur_a * (tpl_cum(t, tau + 1.0) - tpl_cum(t, tau));
        if (prev_active)
            val += s->prev_a * (tpl_cum(t, taup + 1.0) - tpl_cum(t, taup));
        out[pos] = (float)val;
        pos += 1;
        s->n += 1;
    }
}

/* ---- one large fill in two threads ---- */

/* The index of a pulse of a sweep or a custom train that starts at least
 * three pulses before sample m, from the schedule's closed form (only an
 * estimate: train_seek checks it), or -1 where there is none to give. */
static int64_t sched_guess(const mw_schedule *sc, int64_t m)
{
    double tau, ph, x, r;
    int64_t cyc, lo, hi, mid, k;
    if (sc->kind == MW_SCHED_SWEEP) {
        tau = (double)m / sc->rate - sc->delay_s;           /* seconds into the sweep */
        if (!(tau > 0.0))
            return -1;
        if (tau > sc->sweep_s)
            tau = sc->sweep_s;                              /* (the held tail is walked) */
        if (sc->f0 == sc->f1)
            ph = sc->f0 * tau;
        else if (sc->sweep_log)
            ph = sc->sw_f0s / sc->sw_lr * (exp(tau * sc->sw_lr / sc->sweep_s) - 1.0);
        else
            ph = sc->f0 * tau + 0.25 * sc->sw_4a * tau * tau;
        if (!(ph < 4.0e18))
            return -1;
        k = (int64_t)ph - 3;
        if (sc->tail_k > 0 && k > sc->tail_k - 1)
            k = sc->tail_k - 1;
        return k;
    }
    if (sc->kind == MW_SCHED_CUSTOM && sc->c_n > 0) {
        x = (double)m - sc->c_delay;                        /* samples into the first loop */
        if (!(x > 0.0))
            return -1;
        cyc = 0;
        if (sc->c_loop > 0.0) {
            if (!(x / sc->c_loop < 1.0e15))
                return -1;
            cyc = (int64_t)(x / sc->c_loop);
            r = x - (double)cyc * sc->c_loop;
        } else {
            r = x;
        }
        /* the onsets of the loop before r (sorted) */
        lo = 0;
        hi = sc->c_n;
        while (lo < hi) {
            mid = lo + (hi - lo) / 2;
            if (sc->c_onsets[mid] < r)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (cyc > (int64_t)4.0e18 / sc->c_n)
            return -1;
        return cyc * sc->c_n + lo - 3;
    }
    return -1;
}

/* Move the train s (at sample s->n <= m, not copying from a tile) to
 * sample m without writing anything: what follows is then what a fill of
 * the samples in between would have left.  The pulses up to m are walked
 * as a fill advances through them (train_advance: the same onsets,
 * fractions, signs and flags); a sweep or a custom train is first moved
 * to a pulse a few before m (the batch it lies in computed whole, from a
 * multiple of MW_SWEEP_BATCH, as a fill computes it: the same bits), its
 * counted pattern with it (pattern_skip), when the walk would be long.
 * The moved start is checked: at least two pulses walked, the first at or
 * before m; else it tries a batch earlier, and in the end walks from
 * where s was. */
static void train_seek(mw_train *s, int64_t m)
{
    mw_train *from;
    int64_t k = sched_guess(&s->sched, m);
    int tries, walked, found = 0;
    if (s->pat.n > 0 && s->pat.by_time && tile_timed_alt(&s->pat))
        k = -1;                         /* an alternating timed state counts its pulses from its start */
    if (k >= 0)
        k = k / MW_SWEEP_BATCH * MW_SWEEP_BATCH;
    /* (s->sched.k: the pulse after the next one; a short walk needs no move) */
    from = k > s->sched.k + 4 * MW_SWEEP_BATCH ? (mw_train *)malloc(sizeof(mw_train)) : NULL;
    if (from != NULL) {
        from[0] = s[0];
        for (tries = 0; tries < 8 && k > from->sched.k; tries++) {
            s[0] = from[0];
            if (!s->pat.by_time && !pattern_skip(&s->pat, k))
                break;                  /* (a timed one's state follows the onsets: fetched in order) */
            s->sched.k = k;
            s->sched.sw_k0 = k;
            s->sched.sw_n = 0;
            s->sched.sw_last = 0;
            s->sched.done = 0;
            s->sched.c_at = -1;         /* (a custom batch divides k afresh) */
            s->has_cur = 0;
            s->has_prev = 0;
            s->cur_cached = 0;
            train_fetch(s);
            walked = 0;
            while (s->has_next && s->next_w <= m && walked < 2) {
                train_advance(s);
                walked++;
            }
            if (walked == 2) {          /* pulse k + 1 starts at or before m: cur's prev is pulse k */
                found = 1;
                break;
            }
            k -= MW_SWEEP_BATCH;        /* too late: a batch earlier */
        }
        if (!found)
            s[0] = from[0];             /* no start found: walk from where the train was */
        free(from);
    }
    while (s->has_next && s->next_w <= m)
        train_advance(s);
    s->n = m;
}

int train_split_fits(const mw_train *s, ptrdiff_t N)
{
    return !s->pooled && N >= MW_SPLIT_MIN
        && (s->sched.kind == MW_SCHED_SWEEP || s->sched.kind == MW_SCHED_CUSTOM)
        && !((s->recording || s->periodic) && s->n + N > s->tile_start);
                                        /* (a replay is periodic: it too copies from tile_start on) */
}

int train_split_begin(mw_train *s, float *out, ptrdiff_t N, mw_split *job)
{
    ptrdiff_t n1;
    if (!train_split_fits(s, N))
        return 0;
    /* the first part a little longer (the second moves its copy first),
     * the second starting on a 64-byte boundary */
    n1 = N / 2 + N / 64;
    n1 += (ptrdiff_t)(((uintptr_t)0 - (uintptr_t)(out + n1)) & 63) / (ptrdiff_t)sizeof(float);
    job->b = (mw_train *)malloc(sizeof(mw_train));
    if (job->b == NULL)
        return 0;
    job->b[0] = s[0];                   /* (its tile and snap are s's, untouched before tile_start) */
    job->s = s;
    job->out = out;
    job->n = N;
    job->n1 = n1;
    job->at = s->n + n1;
    fegetenv(&job->env);
    return 1;
}

void train_split_first(mw_split *job)
{
    train_fill(job->s, job->out, job->n1);
}

void train_split_second(mw_split *job)
{
    fesetenv(&job->env);
    train_seek(job->b, job->at);
    train_fill(job->b, job->out + job->n1, job->n - job->n1);
}

void train_split_end(mw_split *job)
{
    job->s[0] = job->b[0];
    job->s->split_fills += 1;
    free(job->b);
    job->b = NULL;
}

/* ---- a long tile split into runs (mw_tile_seg) ---- */

enum {
    MW_SEG_MIN_CONST = 256,  /* a run of one value this long is stored, not copied (memset/wmemset
                              * reach full speed from about 200 samples on) */
    MW_SEG_K = 2048,         /* a periodic run's source: whole periods, at least this many samples
                              * (8 KiB: one memcpy call a chunk costs little, the source stays in L1) */
    MW_SEG_KMAX = 4096       /* ... and at most this many (else: not worth it, copied from the tile) */
};

/* Samples after which the pulses repeat, sign included (the onsets' whole
 * sample period times what a polarity pattern adds), if short enough for
 * a periodic run's source; else 0.  Only a hint: every run is checked. */
static int64_t tile_pulse_period(const mw_train *s)
{
    const mw_schedule *sc = &s->sched;
    int64_t num, den, g, C = 1, R;
    int i;
    if (sc->period.whole > MW_SEG_KMAX)
        return 0;
    den = sc->period.den;
    num = sc->period.whole * den + sc->period.rem;
    g = mw_gcd(num, den);
    num /= g;
    den /= g;                           /* den pulses span num samples */
    if (s->pat.n > 0) {
        if (s->pat.by_time || s->pat.n == 1) {
            /* a timed state holds one sign (or alternates) for a long stretch */
            for (i = 0; i < s->pat.n; i++)
                if (s->pat.kind[i] == MW_POL_ALT)
                    C = 2;
        } else {
            C = 0;
            for (i = 0; i < s->pat.n; i++)
                C += s->pat.length[i];
        }
    }
    R = den / mw_gcd(den, C) * C;       /* pulses, a whole number of onset periods */
    if (R > MW_SEG_KMAX)
        return 0;
    R = R / den * num;
    return R <= MW_SEG_KMAX ? R : 0;
}

static inline uint32_t float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* Split the tile, just recorded (its first L samples: all of it, or what
 * a recording cut short holds), into runs: one value for at least
 * MW_SEG_MIN_CONST samples; periodic with the pulse period P for at least
 * two sources' worth; the rest copied.  Compared bit by bit, so that the
 * runs give back exactly the recorded samples.  Gives up (tile copied
 * whole, as before) past MW_TILE_SEGS runs. */
static void tile_split(mw_train *s, int64_t L)
{
    const float *t = s->tile;           /* compared as bits: -0.0f is not 0.0f */
    int64_t P, K = 0, a = 0, r, e, x, copy_from = -1;
    int n = 0;
    mw_tile_seg *g = s->tile_seg;
    s->tile_nseg = 0;
    s->tile_segk = 0;
    if (s->tile_near != s->tile_len || L < MW_TILE)
        return;                         /* short repeats: the copy already stays in L1 */
    P = tile_pulse_period(s);
    if (P > 0) {
        K = P * (16 / mw_gcd(P, 16));   /* whole periods, a multiple of 16 samples: the source
                                         * sits as aligned to the output as the tile does */
        K = K * ((MW_SEG_K + K - 1) / K);
        if (K > MW_SEG_KMAX)
            P = 0;
    }
#define MW_PUT(KIND, START)                                     \
    do {                                                        \
        if (n == MW_TILE_SEGS)                                  \
            return;                                             \
        g[n].kind = (KIND);                                     \
        g[n].start = (START);                                   \
        g[n].src = g[n].K = 0;                                  \
        g[n].bits = 0;                                          \
        n += 1;                                                 \
    } while (0)
    while (a < L) {
        for (r = 1; a + r < L && float_bits(t[a + r]) == float_bits(t[a]); r++)
            ;
        if (r >= MW_SEG_MIN_CONST) {
            MW_PUT(MW_SEG_CONST, a);
            g[n - 1].bits = float_bits(t[a]);
            copy_from = -1;
            a += r;
            continue;
        }
        if (P > 0 && a + P < L) {
            for (x = a + P; x < L && float_bits(t[x]) == float_bits(t[x - P]); x++)
                ;
            e = x;
            if (e - a >= 2 * K) {
                MW_PUT(MW_SEG_PERIODIC, a);
                g[n - 1].src = a;
                g[n - 1].K = K;
                copy_from = -1;
                a = e;
                continue;
            }
            /* a periodic run starting before e - P would end at e as well */
            if (e - P + 1 > a + r)
                r = e - P + 1 - a;
        }
        if (copy_from < 0) {
            MW_PUT(MW_SEG_COPY, a);
            copy_from = a;
        }
        a += r;
    }
#undef MW_PUT
    g[n].start = L;
    s->tile_nseg = n == 1 && g[0].kind == MW_SEG_COPY ? 0 : n;
}

/* The run that holds tile index j (the last fill's, most often). */
static inline int tile_seg_at(const mw_train *s, int64_t j)
{
    int k = s->tile_segk;
    const mw_tile_seg *g = s->tile_seg;
    if (j < g[k].start || j >= g[k + 1].start) {
        for (k = 0; g[k + 1].start <= j; k++)
            ;
    }
    return k;
}

/* After samples up to tile index e of run k were written: the run the next fill starts in. */
static inline void tile_seg_done(mw_train *s, int k, int64_t e)
{
    if (e == s->tile_seg[k + 1].start)
        k = k + 1 == s->tile_nseg ? 0 : k + 1;
    s->tile_segk = k;
}

/* Samples j.. (at most m, within one run) of a split tile into out;
 * returns how many.  (Not inlined: called once a run, and inlined it
 * grows train_fill, whose pulse-by-pulse loop the other trains run in.) */
static MW_NOINLINE ptrdiff_t tile_write_seg(mw_train *s, float *out, int64_t j, ptrdiff_t m)
{
    int k = tile_seg_at(s, j);
    const mw_tile_seg *g = s->tile_seg;
    int64_t q, c;
    ptrdiff_t done;
    if (g[k + 1].start - j < m)
        m = g[k + 1].start - j;
    switch (g[k].kind) {
    case MW_SEG_CONST:
        if (s->stream)
            mw_stream_fill(out, m, s->tile[g[k].start]);
        else
            mw_fill_bits(out, m, g[k].bits);
        break;
    case MW_SEG_PERIODIC:
        q = (j - g[k].src) % g[k].K;
        for (done = 0; done < m; done += c) {
            c = g[k].K - q;
            if (c > m - done)
                c = m - done;
            if (s->stream)
                mw_stream_copy(out + done, &s->tile[g[k].src + q], c);
            else
                memcpy(out + done, &s->tile[g[k].src + q], (size_t)c * sizeof(float));
            q = 0;
        }
        break;
    default:
        if (s->stream)
            mw_stream_copy(out, &s->tile[j], m);
        else
            memcpy(out, &s->tile[j], (size_t)m * sizeof(float));
    }
    tile_seg_done(s, k, j + m);
    return m;
}

/* Samples j.. (at most m, within one run) of a split tile: where in the
 * tile they are to be copied from (*src, returns how many), or written into
 * out when they are one value (*src = out; with bits, not written: *src =
 * NULL and *bits their value). */
static inline ptrdiff_t tile_span_seg(mw_train *s, float *out, int64_t j, ptrdiff_t m, const float **src,
                                      uint32_t *bits)
{
    int k = tile_seg_at(s, j);
    const mw_tile_seg *g = s->tile_seg;
    int64_t q;
    if (g[k].kind == MW_SEG_CONST && bits == NULL) {
        src[0] = out;
        return tile_write_seg(s, out, j, m);
    }
    if (g[k + 1].start - j < m)
        m = g[k + 1].start - j;
    if (g[k].kind == MW_SEG_CONST) {
        src[0] = NULL;
        bits[0] = g[k].bits;
    } else if (g[k].kind == MW_SEG_PERIODIC) {
        q = (j - g[k].src) % g[k].K;
        if (g[k].K - q < m)
            m = g[k].K - q;
        src[0] = &s->tile[g[k].src + q];
    } else {
        src[0] = &s->tile[j];
    }
    tile_seg_done(s, k, j + m);
    return m;
}

ptrdiff_t train_span(mw_train *s, float *out, ptrdiff_t N, const float **src, uint32_t *bits)
{
    int64_t n = s->n, j;
    ptrdiff_t m = N;
    size_t off;
    if (!s->periodic || n < s->tile_start || n == s->tile_stop || s->stream || N <= 0)
        return 0;
    if (s->tile_stop - n < m)
        m = s->tile_stop - n;
    if (s->replaying) {
        /* (the near part and tile_alt are not made yet) */
        j = n - s->tile_start;
        if (s->tile_nseg > 0) {
            m = tile_span_seg(s, out, j, m, src, bits);
        } else {
            src[0] = &s->tile[j];
        }
    } else if (s->tile_nseg > 0) {
        m = tile_span_seg(s, out, (n - s->tile_start) % s->tile_len, m, src, bits);
    } else {
        j = (n - s->tile_start) % s->tile_near;
        if (s->tile_near - j < m)
            m = s->tile_near - j;
        src[0] = &s->tile[j];
        off = ((size_t)out - (size_t)src[0]) & 31;
        if (s->tile_alt != NULL && 8 < off && off < 24)
            src[0] = &s->tile_alt[j];     /* the copy whose 32-byte offset matches out's */
    }
    s->n += m;
    return m;
}

void train_fill(mw_train *s, float *out, ptrdiff_t N)
{
    ptrdiff_t pos = 0, m, j;
    int64_t n, upto, L;
    const float *src;
    size_t off;
    while (pos < N) {
        n = s->n;
        m = N - pos;
        if (s->periodic && n >= s->tile_start) {
            if (n == s->tile_stop) {
                if (s->replaying)
                    train_resume(s);
                else
                    train_leave_tile(s);
                continue;
            }
            if (s->replaying) {
                /* (the near part and tile_alt are not made yet) */
                j = n - s->tile_start;
                if (s->tile_stop - n < m)
                    m = s->tile_stop - n;
                if (s->tile_nseg > 0)
                    m = tile_write_seg(s, out + pos, j, m);
                else if (s->stream)
                    mw_stream_copy(out + pos, &s->tile[j], m);
                else
                    memcpy(out + pos, &s->tile[j], m * sizeof(float));
                pos += m;
                s->n += m;
                continue;
            }
            if (s->tile_nseg > 0) {
                j = (n - s->tile_start) % s->tile_len;
                if (s->tile_stop - n < m)
                    m = s->tile_stop - n;
                m = tile_write_seg(s, out + pos, j, m);
                pos += m;
                s->n += m;
                continue;
            }
            /* (both lengths are whole repeats: either index gives the sample) */
            L = s->stream ? s->tile_len : s->tile_near;
            j = (n - s->tile_start) % L;
            if (L - j < m)
                m = L - j;
            if (s->tile_stop - n < m)
                m = s->tile_stop - n;
            if (s->stream) {
                mw_stream_copy(out + pos, &s->tile[j], m);
            } else {
                src = &s->tile[j];
                off = ((size_t)(out + pos) - (size_t)src) & 31;
                if (s->tile_alt != NULL && 8 < off && off < 24)
                    src = &s->tile_alt[j];     /* the copy whose 32-byte offset matches out's */
                memcpy(out + pos, src, m * sizeof(float));
            }
            pos += m;
            s->n += m;
            continue;
        }
        if (s->periodic) {
            if (s->tile_start - n < m)
                m = s->tile_start - n;         /* the few samples before the tile */
        } else if (s->recording) {
            if (n == s->tile_start && s->snap != NULL)
                s->snap[0] = s[0];
            upto = n < s->tile_start ? s->tile_start : s->tile_start + s->tile_len;
            if (upto - n < m)
                m = upto - n;
        }
        train_render(s, out + pos, m);
        if (s->recording && n >= s->tile_start) {
            memcpy(&s->tile[n - s->tile_start], out + pos, m * sizeof(float));
            if (n + m == s->tile_start + s->tile_len) {
                if (s->tile_alt != NULL)
                    memcpy(s->tile_alt, s->tile, s->tile_near * sizeof(float));
                tile_split(s, s->tile_len);
                s->recording = 0;
                s->tile_ready = 1;
                s->periodic = 1;
            }
        }
        pos += m;
    }
    if (s->stream)
        mw_stream_done();
}
