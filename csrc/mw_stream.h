/* Writes that bypass the cache, for fills far larger than it.
 *
 * A store to a line that is not in the cache first reads the line (a
 * "read for ownership"), so writing a buffer much larger than the cache
 * moves every byte twice.  Non-temporal stores write whole lines without
 * reading them; glibc's memcpy/memset switch to them past a similar size.
 * They are only worth it when nothing reads the samples back soon, so the
 * kernels use them only for a single fill of at least MW_STREAM_MIN
 * samples that no later pass (an envelope) reads.
 *
 * x86-64 (SSE): _mm_stream_ps on the 16-byte-aligned middle; elsewhere a
 * plain copy / loop.  Values written are identical either way.
 */
#ifndef MW_STREAM_H
#define MW_STREAM_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MW_STREAM_MIN ((ptrdiff_t)1 << 21)   /* samples: 8 MiB of float32 */

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#define MW_HAVE_STREAM 1

static inline void mw_stream_copy(float *dst, const float *src, ptrdiff_t n) {
    ptrdiff_t j = 0;
    while (j < n && ((uintptr_t)(dst + j) & 15)) { dst[j] = src[j]; j++; }
    for (; j + 4 <= n; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
    for (; j < n; j++) dst[j] = src[j];
}

static inline void mw_stream_fill(float *dst, ptrdiff_t n, float value) {
    ptrdiff_t j = 0;
    __m128 v = _mm_set1_ps(value);
    while (j < n && ((uintptr_t)(dst + j) & 15)) { dst[j] = value; j++; }
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
