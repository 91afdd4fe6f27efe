/* Writes that bypass the cache, for fills far larger than it.
 *
 * A store to a line that is not in the cache first reads the line (a
 * "read for ownership"), so writing a buffer much larger than the cache
 * moves every byte twice.  Non-temporal stores write whole lines without
 * reading them; glibc's memcpy/memset switch to them past a similar size.
 * They are only worth it when nothing reads the samples back soon and
 * the samples would not stay in the cache anyway, so the kernels use them
 * only for a single fill larger than the last-level cache (mw_llc_bytes)
 * that no later pass (an envelope) reads.  A fill that fits in the cache
 * is written with plain stores and stays there for whoever reads it next.
 *
 * x86-64 (SSE): _mm_stream_ps on the 16-byte-aligned middle; elsewhere a
 * plain copy / loop.  Values written are identical either way.
 */
#ifndef MW_STREAM_H
#define MW_STREAM_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* the last-level cache assumed where the machine does not say (the
 * kernels' fixed threshold before it was read from the machine) */
#define MW_LLC_DEFAULT ((size_t)8 << 20)
/* ... and the least figure taken from the machine (a VM may report
 * anything) */
#define MW_LLC_MIN ((size_t)1 << 20)

/* The last-level cache of the CPU the library loaded on, in bytes:
 * read once when the library loads (mw_program.c: on Linux the highest
 * level of /sys/devices/system/cpu/cpu0/cache, else sysconf's
 * _SC_LEVEL3_CACHE_SIZE / _SC_LEVEL2_CACHE_SIZE where they exist), else
 * MW_LLC_DEFAULT.  Never reads anything after load: safe in the audio thread. */
size_t mw_llc_bytes(void);

/* A fill larger than the last-level cache that is worked out in passes
 * (an envelope's gains, a session's stage) is worked out this many floats
 * at a time into a buffer in L1 (16 KiB), then streamed out.  (A train
 * rendered pulse by pulse writes its pulses in place: mw_program.c.) */
enum { MW_STREAM_PIECE = 4096 };

/* Whether a fill of n float32 samples is larger than the last-level cache. */
static inline int mw_beyond_llc(ptrdiff_t n) { return (size_t)n * sizeof(float) > mw_llc_bytes(); }

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define MW_HAVE_STREAM 1

/* The middle loops write a 64-byte line (four stores) an iteration: a
 * loop of one 16-byte store runs at about one iteration a cycle, so fast
 * that where the compiler happens to place it decides its speed (straddling
 * a 64-byte boundary of the code made it 1.7x slower out of cache on a
 * Zen 3 VM); four stores an iteration leave it bound by memory wherever it
 * lands. */
static inline void mw_stream_copy(float *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t j = 0;
    while (j < n && ((uintptr_t)(dst + j) & 15)) { dst[j] = src[j]; j++; }
    for (; j + 16 <= n; j += 16) {
        __m128 a = _mm_loadu_ps(src + j), b = _mm_loadu_ps(src + j + 4);
        __m128 c = _mm_loadu_ps(src + j + 8), d = _mm_loadu_ps(src + j + 12);
        _mm_stream_ps(dst + j, a);
        _mm_stream_ps(dst + j + 4, b);
        _mm_stream_ps(dst + j + 8, c);
        _mm_stream_ps(dst + j + 12, d);
    }
    for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
    for (; j < n; j++) dst[j] = src[j];
}

static inline void mw_stream_fill(float *dst, ptrdiff_t n, float value) {
    ptrdiff_t j = 0;
    __m128 v = _mm_set1_ps(value);
    while (j < n && ((uintptr_t)(dst + j) & 15)) { dst[j] = value; j++; }
    for (; j + 16 <= n; j += 16) {
        _mm_stream_ps(dst + j, v);
        _mm_stream_ps(dst + j + 4, v);
        _mm_stream_ps(dst + j + 8, v);
        _mm_stream_ps(dst + j + 12, v);
    }
    for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, v);
    for (; j < n; j++) dst[j] = value;
}

/* after the last streaming store of a fill: order them before later stores */
static inline void mw_stream_done(void) { _mm_sfence(); }

#else
#define MW_HAVE_STREAM 0
static inline void mw_stream_copy(float *dst, const float *src, ptrdiff_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static inline void mw_stream_fill(float *dst, ptrdiff_t n, float value) {
    for (ptrdiff_t j = 0; j < n; j++) dst[j] = value;
}
static inline void mw_stream_done(void) {}
#endif
#endif
