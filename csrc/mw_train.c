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

/* Samples after which the train (without its end) repeats exactly (at
 * most MW_TILE_MAX), or 0 if it may not (a train with no pulse at all
 * is not tiled by its caller).
 *
 * Onsets are delay + (burst) + k * period with rational period num/den:
 * den/gcd(num, den) pulses (or bursts) span a whole number of samples,
 * and a counted polarity pattern of C pulses repeats after a multiple of
 * C pulses; the repeat is the least common multiple of both.  A timed
 * pattern (its states start on fixed samples) repeats after its cycle,
 * so the repeat is also a multiple of that. */
static inline int64_t train_repeat(const mw_train *s)
{
    int64_t C = 1, num, den, R, nb, bnum, bden, g, T, cycle = 0;
    mw_rat clock;
    int i;
    const mw_schedule *sc = &s->sched;
    if (sc->kind != MW_SCHED_REGULAR || s->no_tile)
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
        T = R / den * num;
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
        T = R / bden * bnum;
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
     * pattern, the end of the state it falls in), every sample
     * m >= tile_start = w + ceil(end) + 2 equals sample m + T: a pulse that
     * reaches m + T starts after m + T - end - 1 >= w + T + 1, so its
     * counterpart T earlier starts after the first onset and is a pulse of
     * the train too; and every pulse reaching m has one T later.  With an
     * end, samples before end_whole - 1 are those of the endless train. */
    int64_t T, L, start, stop, near, need;
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
    if (s->pat.by_time && s->pat.n > 1 && s->pat.state_end > start) {
        /* a timed state that began before the first pulse holds fewer pulses
         * than it will in later cycles: the train repeats from the next state */
        start = s->pat.state_end;
    }
    start += (int64_t)ceil(s->tpl.end) + 2;
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
    s->recording = 1;
}

void train_start(mw_train *s)
{
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

static inline void train_leave_tile(mw_train *s)
{
    /* at tile_stop: the state saved at tile_start, moved on by the whole
     * repeats in between (onsets, clocks and a timed pattern's state end
     * shift by D samples; a counted pattern is back where it was), with the
     * end checked again */
    int64_t D = s->tile_stop - s->tile_start;
    mw_train keep = s[0];
    s[0] = s->snap[0];
    s->tile = keep.tile;
    s->tile_alt = keep.tile_alt;
    s->snap = keep.snap;
    s->tile_cap = keep.tile_cap;
    s->tile_ready = keep.tile_ready;
    s->stream = keep.stream;
    s->periodic = 0;
    s->recording = 0;
    s->n += D;
    s->cur_w += D;
    s->prev_w += D;
    s->next_w += D;
    if (s->sched.has_burst)
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

/* zeros between pulses (long in sparse trains) */
static inline void fill_rest(const mw_train *s, float *out, ptrdiff_t m)
{
    if (s->stream && m >= 1024 && !s->recording)
        mw_stream_fill(out, m, 0.0f);
    else
        fill_const(out, m, 0.0f);
}

enum { MW_ZERO_AHEAD = 1024 };   /* samples zeroed at once ahead of the pulses written over them */

/* Pulses of their own of a rectangular template that fit whole in the
 * block, one after the other, from out[pos] (the current pulse's onset
 * sample) on: the loop of train_render's pulses of their own, with the
 * train's state in locals, train_advance and train_consider_cache written
 * out for this case (the same state is left behind), and the rests not
 * written gap by gap: the block is zeroed MW_ZERO_AHEAD samples at a time
 * ahead of the pulses (one memset instead of one a pulse), and each pulse
 * over it (tpl_render_rect writes its L samples, and up to 7 past them
 * that are zeroed again right after).  A
 * long rest of a streaming fill is still written with streaming stores.
 * Returns the new pos; s->n and every field train_advance sets are
 * brought up to date.  nflat is t->nflat, a constant where the common counts
 * are dispatched (train_render), so that each pulse's pieces unroll. */
static inline ptrdiff_t train_run_rect(mw_train *s, float *out, ptrdiff_t pos, ptrdiff_t N, const int nflat)
{
    const mw_template *t = &s->tpl;
    const double end = t->end;
    int64_t n = s->n, L = s->cur_len;
    int64_t pw = s->prev_w, cw = s->cur_w, nw = s->next_w;
    double pf = s->prev_f, pa = s->prev_a, cf = s->cur_f, ca = s->cur_a, nf = s->next_f, na = s->next_a;
    double amp, x;
    int has_prev = s->has_prev, has_next = s->has_next, cached = 1;
    int stream = s->stream && !s->recording;
    ptrdiff_t g, q, z = pos;            /* out[pos..z) not written by a pulse are zeros */
    for (;;) {
        if (!tpl_rect_n(t, cf, ca, out + pos, L, N - pos, nflat))
            tpl_render_rect_any(t, cf, ca, out + pos, L);
        pos += L;
        n += L;
        if (N - pos >= 8) {
            for (q = 0; q < 8; q++)
                out[pos + q] = 0.0f;
        } else {
            for (q = 0; q < N - pos; q++)
                out[pos + q] = 0.0f;
        }
        g = N;
        if (has_next && nw - n < N - pos)
            g = pos + (ptrdiff_t)(nw - n);
        if (g > z) {
            if (z < pos)
                z = pos;
            if (stream && g - z >= 1024) {
                mw_stream_fill(out + z, g - z, 0.0f);
                z = g;
            } else {
                ptrdiff_t zend = g - z < MW_ZERO_AHEAD ? z + MW_ZERO_AHEAD : g;
                if (zend > N)
                    zend = N;
                fill_const(out + z, zend - z, 0.0f);
                z = zend;
            }
        }
        n += g - pos;
        pos = g;
        if (pos == N || !has_next)
            break;
        /* train_advance: the next pulse (next_w == n) becomes current */
        pw = cw; pf = cf; pa = ca;
        has_prev = 1;
        cw = nw; cf = nf; ca = na;
        has_next = sched_next(&s->sched, &nw, &nf, &amp);
        if (has_next)
            na = s->sign * amp * pattern_sign(&s->pat, nw);
        /* train_consider_cache, for a train with no slots to keep */
        x = cf + end;
        L = (int64_t)x;
        if (L < x)
            L += 1;
        cached = (L <= MW_CACHE && !s->no_slots
                  && pw + pf + end <= (double)cw
                  && (!has_next || nw >= cw + L));
        if (!cached || L > N - pos)
            break;
    }
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
                        case 1: pos = train_run_rect(s, out, pos, N, 1); break;
                        case 2: pos = train_run_rect(s, out, pos, N, 2); break;    /* biphasic */
                        case 3: pos = train_run_rect(s, out, pos, N, 3); break;    /* ... with a gap */
                        default: pos = train_run_rect(s, out, pos, N, t->nflat); break;
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
                train_leave_tile(s);
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
