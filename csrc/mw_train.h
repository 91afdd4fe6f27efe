/* mw_train.h -- a pulse train: the template (mw_template.h) placed at the
 * onsets of a schedule (mw_schedule.h) with the signs of a polarity
 * pattern (mw_pattern.h), written block by block into a float32 buffer (uA).
 *
 * train_fill continues exactly: any sequence of fills gives the same
 * samples, bit for bit, as one fill of the total length.  Three paths give
 * those same bits: sample runs (pulse by pulse), slots (a short isolated
 * pulse rendered once per sub-sample fraction and amplitude, then copied),
 * and the tile (a train that repeats exactly after a whole number of
 * samples is recorded once and copied).
 *
 * Memory: the struct owns its tile and its saved state (snap), allocated by
 * train_start and freed by train_release -- unless it is `pooled` (a
 * session's slot), whose buffers belong to the pool and are never
 * allocated or freed here.  A byte copy of the struct must drop them
 * (train_disown).  In the audio thread only pooled trains run: train_fill,
 * train_start (pooled), train_disown and train_tile_need never allocate then.
 */
#ifndef MW_TRAIN_H
#define MW_TRAIN_H
#include <fenv.h>
#include <stddef.h>
#include <stdint.h>
#include "mw_limits.h"
#include "mw_template.h"
#include "mw_schedule.h"
#include "mw_pattern.h"

enum {
    MW_CACHE = 256,          /* samples of a rendered short pulse kept for reuse */
    MW_SLOTS = 8,            /* distinct (fraction, amplitude) renderings kept */
    MW_MAX_FRACS = 4,        /* cache only trains whose onsets take this few fractions */
    MW_TILE = 16384,         /* a periodic train's tile holds whole repeats and at least this many samples */
    MW_TILE_NEAR = 4096,     /* ... but copies within its first whole repeats past this (16 KiB, stays in L1) */
    MW_TILE_MAX = 1 << 18,   /* trains that repeat after more samples than this are not tiled (1 MiB) */
    MW_TILE_SEGS = 32,       /* a long tile is written as at most this many runs (else copied whole) */
    MW_SPLIT_MIN = 1 << 20   /* train_split_begin: fills of at least this many samples (4 MiB) */
};

/* A run of a long tile (mw_train.tile_seg): how train_fill writes it.  A
 * copy from a tile far larger than L1 reads as many bytes as it writes, and
 * with a 256 KiB output the tile and the output overflow L2; most of a long
 * repeat is either one value (the rests of a burst train, the plateaus of
 * slow pulses) or a short periodic stretch (a burst's pulses, a timed
 * pattern's state), which need not be read from the big tile at all. */
enum { MW_SEG_COPY, MW_SEG_CONST, MW_SEG_PERIODIC };
typedef struct {
    int64_t start;           /* tile index where the run begins (it ends where the next begins) */
    int64_t src, K;          /* PERIODIC: tile[j] == tile[src + (j - src) % K], K whole periods, a
                              * multiple of 16 samples (src == start: the run's own first K samples) */
    uint32_t bits;           /* CONST: every sample's bits */
    int kind;
} mw_tile_seg;

typedef struct mw_train mw_train;

struct mw_train {
    mw_template tpl;
    mw_schedule sched;
    mw_pattern pat;
    double sign;             /* +1 positive-first, -1 negative-first */
    int64_t n;               /* absolute index of the next sample to write */
    /* the latest pulse that starts before the end of sample n, the one before
     * it (whose tail may still reach into sample n), and the next one */
    int has_cur, has_prev, has_next;
    int64_t cur_w, prev_w, next_w;
    double cur_f, prev_f, next_f;
    double cur_a, prev_a, next_a;
    /* a pulse that shares no sample with its neighbours and spans at most
     * MW_CACHE samples is rendered once per (fraction, amplitude) and copied */
    int cacheable;           /* onsets take at most MW_MAX_FRACS sub-sample fractions */
    int cur_cached;
    int64_t cur_len;
    int cur_slot, next_slot;
    int slot_valid[MW_SLOTS];
    double slot_f[MW_SLOTS];
    double slot_a[MW_SLOTS];
    float cache[MW_SLOTS][MW_CACHE];
    /* A train that repeats exactly after a whole number of samples (a regular
     * schedule, with or without bursts, no pattern or a counted one) records
     * the samples it renders from tile_start on into a tile of whole
     * repeats; once the tile is full it copies it instead of rendering, and
     * keeps it across rewinds (the train's parameters never change).  A
     * train with an end copies until tile_stop, a whole number of repeats
     * before the end, then takes up the state it saved at tile_start (snap)
     * moved on by those repeats, and plays its end pulse by pulse.  tile
     * and snap are owned by this struct: train_release frees them, and a
     * byte copy of the struct must drop them (train_disown). */
    int no_tile;             /* render pulse by pulse only (for verification) */
    int pooled;              /* tile and snap belong to a pool (a session's slots): never
                              * allocated or freed here; a tile that does not fit is not made */
    int no_slots;            /* ... and sample run by sample run, no pulse rendered in one pass (ditto) */
    int recording;           /* rendering, and keeping samples >= tile_start */
    int tile_ready;          /* the tile is full */
    int periodic;            /* copying from the tile from tile_start on */
    int64_t tile_start, tile_stop, tile_len, tile_cap;
    int64_t tile_near;       /* whole repeats >= MW_TILE_NEAR samples (or tile_len): what a
                              * copy into a cached buffer reads; a streaming copy reads tile_len */
    /* a recording cut short by a rewind (no end): its samples, tile_rec of
     * them, are copied on the next pass, which then takes up the state saved
     * in snap at their end (replaying) and records on */
    int64_t tile_rec;
    int replaying;
    /* a long tile (tile_near == tile_len >= MW_TILE) split into tile_nseg
     * runs when it was recorded (bit-exact by construction: each run is
     * checked against the recorded samples; the runs are tile_seg, last in
     * the struct, with tile_seg[tile_nseg].start == tile_len; 0 runs: copied
     * whole), and the run the last fill ended in */
    int tile_nseg, tile_segk;
    float *tile_alt;         /* a copy of the near part at another 32-byte offset (in tile's block), or NULL */
    float *tile;
    mw_train *snap;
    /* set by the caller for one fill: nothing reads these samples back soon
     * (a fill far larger than the cache, no envelope), so long copies and
     * long rests are written with stores that bypass the cache (mw_stream.h) */
    int stream;
    int64_t split_fills;     /* fills made in two parts (train_split_end; kept across rewinds) */
    /* (last: the fields above keep their places, close together) */
    mw_tile_seg tile_seg[MW_TILE_SEGS + 1];
};

/* Rewind to sample 0 (the schedule's and pattern's running fields are reset
 * here); plans the tile, allocating it unless the train is pooled. */
void train_start(mw_train *s);

/* Write the next N samples of the train (uA) into out. */
void train_fill(mw_train *s, float *out, ptrdiff_t N);

/* One large fill (N >= MW_SPLIT_MIN) of a train rendered pulse by pulse
 * (a sweep, a custom train looped between samples) over samples no tile
 * records or copies, in two parts that may run at once in two threads:
 * train_split_fits says whether it applies (nothing done: a caller asks
 * it before finding a second thread); train_split_begin (1 if it applies,
 * the job set up; 0: nothing done, train_fill it) copies the train; then
 * train_split_first writes the first part with the train,
 * train_split_second the rest with the copy moved to where it begins --
 * in any order, or at once, each in one thread -- and train_split_end
 * (after both) leaves the train as train_fill would have, with the same
 * samples written.  The floating-point environment of the thread that
 * began is the second part's too.  Never for a pooled train: it
 * allocates (and its caller starts a thread), which the audio thread
 * must not. */
typedef struct mw_split {
    mw_train *s, *b;         /* the train, and the copy (allocated) that writes the second part */
    float *out;
    ptrdiff_t n, n1;         /* samples in all, and in the first part */
    int64_t at;              /* the train's sample where the second part begins */
    fenv_t env;              /* the floating-point environment of the thread that began */
} mw_split;

int train_split_fits(const mw_train *s, ptrdiff_t N);
int train_split_begin(mw_train *s, float *out, ptrdiff_t N, mw_split *job);
void train_split_first(mw_split *job);
void train_split_second(mw_split *job);
void train_split_end(mw_split *job);

/* The next samples (at most N) where they are a copy of the tile: returns
 * how many (the train moved past them), *src pointing at them -- in the
 * tile, or at out where they were written there (a run of one value); 0
 * (nothing moved) where they are rendered: train_fill writes those.  Never
 * while streaming.  What a caller that scales the samples on their way
 * (mw_program.c) reads them from, instead of copying them first.  With
 * bits (not NULL), a run of one value is not written: *src = NULL, *bits
 * its value (a session's stage takes it as such, mw_program_view). */
ptrdiff_t train_span(mw_train *s, float *out, ptrdiff_t N, const float **src, uint32_t *bits);

/* Free the tile and the saved state (the struct stays usable: train_start
 * makes new ones); a pool's are the pool's to free. */
void train_release(mw_train *s);

/* Forget a tile and saved state this struct does not own (after a byte copy). */
void train_disown(mw_train *s);

/* The floats a tile of this train may need (0: it is never tiled), known
 * before it starts: what a pool sizes its buffers by. */
int64_t train_tile_need(const mw_train *s);

#endif
