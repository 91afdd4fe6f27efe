/* mw_program.c -- a train at unit gain, then one gain per unit (see mw_program.h). */
#include <stdio.h>
#include <string.h>
#include "mw_port.h"
#include "mw_program.h"
#include "mw_stream.h"

enum { MW_GAIN_CHUNK = 4096 };      /* samples (16 KiB): a train's output, then its gains, while in L1 */

static size_t llc_bytes = MW_LLC_DEFAULT;

size_t mw_llc_bytes(void)
{
    return llc_bytes;
}

/* "32768K", "8M", "524288": bytes, or 0 */
static size_t parse_size(const char *text)
{
    unsigned long long v = 0;
    char unit = 0;
    if (sscanf(text, "%llu%c", &v, &unit) < 1)
        return 0;
    if (unit == 'K' || unit == 'k')
        v <<= 10;
    else if (unit == 'M' || unit == 'm')
        v <<= 20;
    else if (unit == 'G' || unit == 'g')
        v <<= 30;
    return (size_t)v;
}

/* The last-level cache, once, when the library loads (MW_AT_LOAD; where
 * nothing runs it, MW_LLC_DEFAULT stays): the highest level sysfs lists
 * for cpu0 (plain C file reads, which find nothing off Linux), else the
 * system's figure; at least MW_LLC_MIN (a streamed fill works in pieces of
 * MW_STREAM_PIECE samples, each of which must not count as beyond it). */
MW_AT_LOAD
static void read_llc(void)
{
    char path[96], text[32];
    FILE *f;
    int idx, level, best_level = 0;
    size_t size, best = 0;
    for (idx = 0; idx < 16; idx++) {
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", idx);
        f = fopen(path, "r");
        if (f == NULL)
            break;
        level = 0;
        if (fscanf(f, "%d", &level) != 1)
            level = 0;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", idx);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        size = fgets(text, sizeof text, f) != NULL ? parse_size(text) : 0;
        fclose(f);
        if (size > 0 && (level > best_level || (level == best_level && size > best))) {
            best_level = level;
            best = size;
        }
    }
    if (best == 0)
        best = mw_sys_llc_bytes();
    if (best > 0)
        llc_bytes = best < MW_LLC_MIN ? MW_LLC_MIN : best;
}

MW_INLINE void gain_fetch(mw_program *p)
{
    double amp;
    if (p->g_has_next)
        p->g_last_end = (double)p->g_next_w + p->g_next_f + p->train.tpl.end;
    p->g_k = p->gsched.k;
    p->g_has_next = sched_next(&p->gsched, &p->g_next_w, &p->g_next_f, &amp);
    if (p->g_has_next)
        p->g_next_a = p->train.sign * amp * pattern_sign(&p->gpat, p->g_next_w);
}

void program_start(mw_program *p)
{
    train_start(&p->train);
    env_reset(&p->env);
    env_reset(&p->gate);
    p->gsched = p->train.sched;
    sched_reset(&p->gsched);
    p->gpat = p->train.pat;
    pattern_reset(&p->gpat);
    p->gpos = 0;
    p->gpos_env = 0;
    p->held = 0.0f;
    p->g_has_next = 0;
    p->g_last_end = 0.0;
    if (p->unit_pulses < 1)
        p->unit_pulses = 1;
    gain_fetch(p);
}

void program_release(mw_program *p)
{
    train_release(&p->train);
}

void program_disown(mw_program *p)
{
    train_disown(&p->train);
}

int64_t program_tile_need(const mw_program *p)
{
    return train_tile_need(&p->train);
}

void program_load(mw_program *slot, const mw_program *src)
{
    float *tile = slot->train.tile;
    int64_t cap = slot->train.tile_cap;
    mw_train *snap = slot->train.snap;
    slot[0] = src[0];
    train_disown(&slot->train);
    slot->train.tile = tile;
    slot->train.tile_cap = cap;
    slot->train.snap = snap;
    slot->train.pooled = 1;
    slot->busy = 0;
}

/* The pulse just fetched starts a unit (its gain is taken there).  Most
 * trains have units of one pulse: no 64-bit division for them (it ran once
 * a pulse, a good part of a unit's cost at 1 kHz). */
static inline int unit_starts(const mw_program *p)
{
    return p->unit_pulses == 1 || p->g_k % p->unit_pulses == 0;
}

/* The gain that moves sample by sample (envelope x gate x level, in
 * float32, in that order) at ``sample``, level[j] being its live level. */
static inline float gain_at(mw_program *p, int64_t sample, const float *level, ptrdiff_t j)
{
    float g;
    env_skip(&p->env, sample - p->gpos_env);
    env_skip(&p->gate, sample - p->gpos_env);
    p->gpos_env = sample;
    g = env_level(&p->env) * env_level(&p->gate);
    if (level != NULL)
        g = g * level[j];
    return g;
}

/* o[i] = s[i] * h, o and s apart (no overlap to check for) */
static inline void scale_copy(float *MW_RESTRICT o, const float *MW_RESTRICT s, ptrdiff_t n, float h)
{
    ptrdiff_t i;
    for (i = 0; i < n; i++)
        o[i] = s[i] * h;
}

/* out[i0..i1) = src[i0..i1) * h (in place: nothing to do for a gain of 1) */
static inline void scale_span(float *out, const float *src, ptrdiff_t i0, ptrdiff_t i1, float h)
{
    ptrdiff_t i;
    if (src != out) {
        scale_copy(out + i0, src + i0, i1 - i0, h);    /* (x * 1.0f is x: a gain of 1 copies) */
    } else if (h != 1.0f) {
        for (i = i0; i < i1; i++)
            out[i] = out[i] * h;
    }
}

enum { MW_RUN = 64 };    /* units a run of gains takes at once */

/* Whether the units may go by runs (gain_run): units of one pulse, of a
 * regular train without bursts or a polarity pattern whose onsets are a
 * whole number of samples apart, and pulses ending a sample before the
 * next one starts: every unit is then the last one moved on by the
 * period, no unit starts in a sample the one before still ends in. */
static inline int gain_runs(const mw_program *p)
{
    const mw_schedule *sc = &p->gsched;
    return p->unit_pulses == 1 && sc->kind == MW_SCHED_REGULAR && !sc->has_burst && sc->period.rem == 0
           && sc->period.whole >= 1 && p->gpat.n == 0
           && p->g_next_f + p->train.tpl.end + 1.0 <= (double)sc->period.whole;
}

/* The units starting at out[b], b + P, ... (P the period) while they stay
 * in out[..n), in the envelope's segment, before the train's end, and
 * the gate holds one level: their gains worked out together (no unit
 * waits for the one before), then the samples of all but the last.
 * Leaves everything as the unit by unit loop of mw_gain_hold does at the
 * last one's onset; returns that onset (b: no run, the loop goes on). */
MW_INLINE ptrdiff_t gain_run(mw_program *p, float *out, const float *src, int64_t n0, ptrdiff_t b, ptrdiff_t n,
                          const float *level)
{
    mw_envelope *e = &p->env;
    const int64_t P = p->gsched.period.whole, w0 = p->g_next_w;
    int64_t left, K, k, pos;
    float gk[MW_RUN], h, g, gl;
    if ((p->gate.n > 0 && !p->gate.done) || w0 >= ((int64_t)1 << 50) || p->g_last_end > (double)(n0 + b))
        return b;
    K = (n - 1 - b) / P + 1;
    if (K > MW_RUN)
        K = MW_RUN;
    if (p->gsched.has_end) {
        left = p->gsched.end_whole - w0;          /* onsets before end_whole are in the train */
        if (left <= 0)
            return b;
        if ((left - 1) / P + 1 < K)
            K = (left - 1) / P + 1;
    }
    env_skip(e, n0 + b - p->gpos_env);
    p->gpos_env = n0 + b;
    gl = env_level(&p->gate);
    pos = e->pos;
    if (e->n > 0 && !e->done) {
        if (pos >= ((int64_t)1 << 50))
            return b;                           /* (env_levels counts below 2**53) */
        left = e->length[e->idx] - pos;
        if ((left - 1) / P + 1 < K)
            K = (left - 1) / P + 1;
    }
    if (K < 2)
        return b;
    /* gain_at's products for each unit */
    if (e->n > 0 && !e->done) {
        env_levels(e, pos, P, (int)K, gl, gk);
    } else {
        g = env_level(e) * gl;
        for (k = 0; k < K; k++)
            gk[k] = g;
    }
    if (level != NULL) {
        for (k = 0; k < K; k++)
            gk[k] = gk[k] * level[b + k * P];
    }
    h = p->held;
    for (k = 0; k < K - 1; k++) {
        if (gk[k] != h)
            h = gk[k];
        scale_span(out, src, b + k * P, b + (k + 1) * P, h);
    }
    if (gk[K - 1] != h)
        h = gk[K - 1];
    p->held = h;
    /* the envelope, the schedule and the gain walk at the last unit's onset */
    if (e->n > 0 && !e->done)
        e->pos = pos + (K - 1) * P;
    p->gpos_env = n0 + b + (K - 1) * P;
    p->gsched.pulse_clock.whole += (K - 1) * P;
    p->gsched.k += K - 1;
    p->g_k += K - 1;
    p->g_next_w = w0 + (K - 1) * P;
    gain_fetch(p);
    return b + (K - 1) * P;
}

/* out (n samples from p->gpos, rendered at unit gain) *= each unit's gain,
 * taken where the unit starts.  Built for AVX2 and the baseline
 * (MW_CLONES): the pass over a unit's samples takes half the instructions
 * in AVX2, and the gain's arithmetic is the same IEEE operations in both
 * (no FMA: mw_shapes.h), so the same bits.  One call a block, never a
 * call a unit (an AVX2 call a unit, for ~48 samples, cost more than it saved). */
MW_CLONES void mw_gain_hold(mw_program *p, float *out, const float *src, ptrdiff_t n, const float *level)
{
    ptrdiff_t j = 0, b;
    int64_t n0 = p->gpos;
    float h, g;
    double head, v;
    int runs = gain_runs(p);
    while (p->g_has_next && p->g_next_w < n0) {
        /* pulses that started while no gain applied (the gain was 1 then) */
        if (unit_starts(p))
            p->held = 1.0f;
        gain_fetch(p);
    }
    while (j < n) {
        b = n;
        if (p->g_has_next && p->g_next_w < n0 + n)
            b = p->g_next_w - n0;
        h = p->held;
        scale_span(out, src, j, b, h);
        j = b;
        if (b >= n)
            break;
        if (runs) {
            b = gain_run(p, out, src, n0, b, n, level);
            if (b > j) {
                j = b;
                continue;
            }
        }
        if (unit_starts(p)) {
            g = gain_at(p, n0 + b, level, b);
            if (g != h) {
                if (p->g_last_end > (double)(n0 + b)) {
                    /* a unit starts inside sample b while the one before
                     * still ends in it: the part before the onset keeps
                     * the previous unit's gain */
                    head = p->g_next_a * tpl_cum(&p->train.tpl, 1.0 - p->g_next_f);
                    v = src[b];
                    out[b] = (float)((double)h * (v - head) + (double)g * head);
                    j = b + 1;
                }
                p->held = g;
            }
        }
        gain_fetch(p);
    }
    env_skip(&p->env, n0 + n - p->gpos_env);
    env_skip(&p->gate, n0 + n - p->gpos_env);
    p->gpos_env = n0 + n;
    p->gpos = n0 + n;
}

/* A unit under way holds a gain other than 1 (a live level's, taken at its
 * start): a program with no envelope and no gate still applies it, with
 * no live level, until the next unit starts (a level back at 1 leaves the
 * level pointer NULL from the next chunk on, in the middle of a unit).  At
 * the start (held 0, gpos 0) no unit is under way. */
static inline int held_pending(const mw_program *p)
{
    return p->held != 1.0f && p->gpos > 0;
}

/* No gain to apply to the next samples (no shape, no live level, no unit
 * waiting for its gain): the train's samples are the program's. */
static inline int program_plain(const mw_program *p, const float *level)
{
    return !program_shaped(p) && level == NULL && !held_pending(p);
}

/* After n samples with no gain to apply: the gain walk past them. */
static inline void program_plain_moved(mw_program *p, ptrdiff_t n)
{
    p->held = 1.0f;
    p->gpos += n;
    p->gpos_env = p->gpos;
}

/* program_fill of a shaped program (or under a live level) into a buffer
 * larger than the last-level cache: MW_STREAM_PIECE samples at a time into a
 * buffer that stays in L1, each chunk then streamed out (mw_stream_copy),
 * so that the output is written once, without the read for ownership a
 * plain store to a line out of the cache costs, while the next chunk is
 * worked out (program_fill gives the same samples whatever its blocks).
 * Out of line: its buffer is on the stack only for such a fill, which no
 * audio callback asks for. */
static MW_NOINLINE void program_fill_streamed(mw_program *p, float *out, ptrdiff_t n, const float *level)
{
    float buf[MW_STREAM_PIECE];
    ptrdiff_t m;
    while (n > 0) {
        m = n < MW_STREAM_PIECE ? n : MW_STREAM_PIECE;
        program_fill(p, buf, m, level);
        mw_stream_copy(out, buf, m);
        out += m;
        n -= m;
        if (level != NULL)
            level += m;
    }
    mw_stream_done();
}

/* A unit's gain is envelope x gate x level at the sample where it starts,
 * each a float32 and their product taken in float32 (so that a reference in
 * numpy gives the same bits); it is worked out once a unit, so a held gain
 * costs one multiply a sample, or none. */
void program_fill(mw_program *p, float *out, ptrdiff_t n, const float *level)
{
    ptrdiff_t m;
    const float *src;
    const int plain = program_plain(p, level);
    const int beyond = mw_beyond_llc(n);
    if (MW_HAVE_STREAM && beyond && !plain) {
        program_fill_streamed(p, out, n, level);
        return;
    }
    /* a fill larger than the last-level cache that no gain reads back
     * again: copied from the train's tile, and its long rests written, with
     * stores that bypass the cache.  A train rendered pulse by pulse (a
     * sweep, a custom train looped between samples) writes its pulses in
     * place with plain stores: worked out in L1 and streamed out instead,
     * the copy waited for the memory and the pulses for the copy (bench/ab.py,
     * a custom train looped between samples, 64 MiB: 0.217 ns a sample
     * streamed, 0.160 in place; the 400 s sweep, bound by its pulses, 0.279
     * either way) */
    p->train.stream = beyond && plain;
    if (plain) {
        train_fill(&p->train, out, n);
        program_plain_moved(p, n);
        return;
    }
    /* Where the train copies its tile, the gains scale the samples on
     * their way from the tile (one pass).  Where it renders them, the gains
     * follow in a second pass, a chunk at a time: the samples the train
     * just wrote are still in L1 when the gains read them back (from a
     * buffer larger than L1 they came back from L2).  Both give the same
     * samples whatever their blocks. */
    while (n > 0) {
        m = train_span(&p->train, out, n, &src, NULL);
        if (m == 0) {
            m = n < MW_GAIN_CHUNK ? n : MW_GAIN_CHUNK;
            train_fill(&p->train, out, m);
            src = out;
        }
        mw_gain_hold(p, out, src, m, level);
        out += m;
        n -= m;
        if (level != NULL)
            level += m;
    }
}

int program_split_fits(const mw_program *p, ptrdiff_t n)
{
    return program_plain(p, NULL) && train_split_fits(&p->train, n);   /* (a gain to apply: program_fill's way) */
}

int program_split_begin(mw_program *p, float *out, ptrdiff_t n, mw_split *job)
{
    if (!program_split_fits(p, n))
        return 0;
    p->train.stream = mw_beyond_llc(n);
    return train_split_begin(&p->train, out, n, job);
}

void program_split_end(mw_program *p, mw_split *job)
{
    train_split_end(job);
    program_plain_moved(p, job->n);
}

/* The gain every unit starting in the next n samples takes is the one
 * held now (*h): no live level, the envelope and the gate each on one
 * level over them (a flat segment, or none, or ended) and their product
 * the held gain, and no unit started before them waiting for its gain
 * (mw_gain_hold's first loop).  mw_gain_hold then scales every sample by
 * *h and changes no gain: out = src * h (in place: nothing for 1). */
static inline int gain_steady(const mw_program *p, ptrdiff_t n, float *h)
{
    const int64_t n0 = p->gpos, upto = n0 + n - p->gpos_env;   /* samples from where the levels were taken */
    const mw_envelope *e;
    int i;
    if (p->gpos_env != n0 || (p->g_has_next && p->g_next_w < n0))
        return 0;
    for (i = 0; i < 2; i++) {
        e = i == 0 ? &p->env : &p->gate;
        if (e->n > 0 && !e->done && !(e->flat[e->idx] && upto <= e->length[e->idx] - e->pos))
            return 0;
    }
    h[0] = p->held;
    return env_level(&p->env) * env_level(&p->gate) == p->held;
}

/* mw_gain_hold's walk over n samples of steady gain (gain_steady): the
 * units that start in them fetched (their gain is the one held), the
 * envelope and the gate moved on; nothing written. */
static inline void gain_pass(mw_program *p, ptrdiff_t n)
{
    const int64_t end = p->gpos + n;
    while (p->g_has_next && p->g_next_w < end)
        gain_fetch(p);
    env_skip(&p->env, end - p->gpos_env);
    env_skip(&p->gate, end - p->gpos_env);
    p->gpos_env = end;
    p->gpos = end;
}

ptrdiff_t program_view(mw_program *p, float *out, ptrdiff_t n, const float *level, int *kind, const float **src,
                       uint32_t *bits)
{
    ptrdiff_t m;
    const float *s;
    uint32_t b = 0;
    float h = 1.0f, v;
    int shaped = program_shaped(p);
    kind[0] = MW_VIEW_OUT;
    src[0] = out;
    if (level != NULL || (shaped ? !gain_steady(p, n, &h) : held_pending(p))) {
        program_fill(p, out, n, level);
        return n;
    }
    p->train.stream = 0;
    m = train_span(&p->train, out, n, &s, &b);
    if (m == 0) {
        program_fill(p, out, n, NULL);      /* rendered, not in the tile */
        return n;
    }
    if (s != NULL && h != 1.0f) {
        /* a copy with a gain other than 1: program_fill's way */
        mw_gain_hold(p, out, s, m, NULL);
        return m;
    }
    if (shaped) {
        gain_pass(p, m);
    } else {
        /* as program_fill's unshaped path: the gain walk catches up later */
        p->held = 1.0f;
        p->gpos += m;
        p->gpos_env = p->gpos;
    }
    if (s != NULL) {
        kind[0] = MW_VIEW_SRC;
        src[0] = s;
        return m;
    }
    if (h != 1.0f) {
        /* the in-place scale of mw_gain_hold, once for all the samples */
        memcpy(&v, &b, sizeof v);
        v = v * h;
        memcpy(&b, &v, sizeof b);
    }
    kind[0] = MW_VIEW_CONST;
    bits[0] = b;
    return m;
}
