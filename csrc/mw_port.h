/* mw_port.h -- the only place that knows which compiler and system it is on.
 *
 * Everything the kernels need beyond ISO C11 lives here, once:
 *
 *   mw_aligned_alloc / mw_aligned_free   a 64-byte-aligned buffer (the trains' tiles):
 *                                         posix_memalign + free on POSIX,
 *                                         _aligned_malloc + _aligned_free on Windows
 *                                         (memory from one is given back only to the other)
 *   mw_seconds_now                        a monotonic clock in seconds (the callback's load):
 *                                         clock_gettime(CLOCK_MONOTONIC) on Linux and the BSDs,
 *                                         mach_absolute_time on macOS, QueryPerformanceCounter
 *                                         on Windows
 *   mw_xchg_acquire_i32 / mw_store_release_i32 / mw_store_release_i64 / mw_load_acquire_i64
 *                                         the atomics of mw_guard.h: the GCC/clang __atomic
 *                                         builtins (GCC, clang, MinGW), the Interlocked
 *                                         intrinsics on MSVC (full barriers, so at least as
 *                                         strong as acquire/release)
 *   MW_AT_LOAD / mw_sys_llc_bytes         a constructor run at load (GCC, clang, MinGW); the
 *                                         system's last-level cache size (sysconf), or 0
 *   MW_CLONES                             AVX2 + baseline clones of a vectorised kernel, chosen
 *                                         at load (GCC on x86-64 Linux, which has ifunc);
 *                                         elsewhere nothing, the baseline build
 *   MW_NOINLINE / MW_INLINE / MW_RESTRICT  never / always inline; pointers that never overlap
 *   MW_UNROLL                             unroll the loop that follows whole (GCC)
 *
 * None of these allocates or locks except mw_aligned_alloc/free, which the
 * audio thread never calls.  On Linux with GCC each is exactly the call the
 * kernels made before this header existed.
 */
#ifndef MW_PORT_H
#define MW_PORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(_WIN32)
#  include <malloc.h>
#  ifndef WIN32_LEAN_AND_MEAN
#    define WIN32_LEAN_AND_MEAN
#  endif
#  ifndef NOMINMAX
#    define NOMINMAX
#  endif
#  include <windows.h>
   /* <windows.h> defines near and far as nothing (16-bit pointer keywords),
    * which would erase the kernels' variables of those names */
#  undef near
#  undef far
#  if defined(_MSC_VER) && !defined(__clang__)
#    include <intrin.h>
#  endif
#elif defined(__APPLE__)
#  include <mach/mach_time.h>
#  include <unistd.h>
#else
#  include <time.h>
#  include <unistd.h>
#endif

/* ---- aligned memory (never in the audio thread) ---------------------- */

/* A buffer of `bytes` bytes aligned to `align` (a power of two, a multiple
 * of sizeof(void *)), or NULL when there is no memory.  Free it with
 * mw_aligned_free only. */
static inline void *mw_aligned_alloc(size_t align, size_t bytes)
{
#if defined(_WIN32)
    return _aligned_malloc(bytes, align);
#else
    void *p;
    return posix_memalign(&p, align, bytes) == 0 ? p : NULL;
#endif
}

/* Give back what mw_aligned_alloc gave (NULL is allowed and does nothing). */
static inline void mw_aligned_free(void *p)
{
#if defined(_WIN32)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* ---- a monotonic clock ------------------------------------------------ */

/* Seconds since an arbitrary fixed point; never goes back. */
static inline double mw_seconds_now(void)
{
#if defined(_WIN32)
    LARGE_INTEGER t, f;
    QueryPerformanceCounter(&t);
    QueryPerformanceFrequency(&f);      /* fixed at boot; cheap */
    return (double)t.QuadPart / (double)f.QuadPart;
#elif defined(__APPLE__)
    mach_timebase_info_data_t tb;           /* ticks to ns: fixed, read from the commpage */
    mach_timebase_info(&tb);
    return 1e-9 * ((double)mach_absolute_time() * tb.numer / tb.denom);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
#endif
}

/* ---- atomics (lock-free, safe in the audio thread) --------------------- */

/* Store v in *p and return what was there, with acquire order. */
static inline int mw_xchg_acquire_i32(int *p, int v)
{
#if defined(_MSC_VER) && !defined(__clang__)
    return (int)_InterlockedExchange((volatile long *)p, (long)v);     /* long is 32 bits on Windows */
#else
    return __atomic_exchange_n(p, v, __ATOMIC_ACQUIRE);
#endif
}

/* Store v in *p with release order. */
static inline void mw_store_release_i32(int *p, int v)
{
#if defined(_MSC_VER) && !defined(__clang__)
    (void)_InterlockedExchange((volatile long *)p, (long)v);
#else
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
#endif
}

/* Store v in *p (8-byte aligned) with release order, in one access. */
static inline void mw_store_release_i64(int64_t *p, int64_t v)
{
#if defined(_MSC_VER) && !defined(__clang__)
    (void)_InterlockedExchange64((volatile __int64 *)p, (__int64)v);
#else
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
#endif
}

/* Load *p (8-byte aligned) with acquire order, in one access. */
static inline int64_t mw_load_acquire_i64(const int64_t *p)
{
#if defined(_MSC_VER) && !defined(__clang__)
    return (int64_t)_InterlockedCompareExchange64((volatile __int64 *)p, 0, 0);
#else
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#endif
}

/* ---- the last-level cache and code run at load ------------------------- */

/* MW_AT_LOAD: a function the loader runs once when the library loads
 * (GCC, clang, MinGW: a constructor); with MSVC nothing runs it and what it
 * would set keeps its default. */
#if defined(__GNUC__)
#define MW_AT_LOAD __attribute__((constructor))
#else
#define MW_AT_LOAD
#endif

/* The system's own figure of the last-level cache, bytes, or 0 when it
 * gives none (sysconf on glibc; the caller reads sysfs first, which is
 * per-core where sysconf may report the whole package).  Never in the
 * audio thread. */
static inline size_t mw_sys_llc_bytes(void)
{
#if defined(_SC_LEVEL3_CACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE)
    long v = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (v <= 0)
        v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return v > 0 ? (size_t)v : 0;
#else
    return 0;
#endif
}

/* ---- function multi-versioning ------------------------------------------ */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MW_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MW_CLONES
#endif

/* ---- code placement, constant fills --------------------------------------- */

/* a function kept out of its callers (called rarely, and inlined it would
 * grow a hot loop); a static one in a header, no warning in a unit that
 * includes it and never calls it */
#if defined(__GNUC__)
#define MW_NOINLINE __attribute__((noinline, unused))
#elif defined(_MSC_VER)
#define MW_NOINLINE __declspec(noinline)
#else
#define MW_NOINLINE
#endif

/* a static function always inlined into its callers, whatever its size: one
 * a hot loop calls once per pulse (the compiler would leave it out of line),
 * or a loop specialised by a constant argument (each caller its own copy;
 * GCC would otherwise keep one with the argument at run time) */
#if defined(__GNUC__)
#define MW_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define MW_INLINE static __forceinline
#else
#define MW_INLINE static inline
#endif

/* the loop that follows unrolled whole: one over a template's pieces, its
 * count a constant where it is inlined, whose body holds a loop (GCC would
 * not unroll it by itself); a hint to GCC, nothing elsewhere (clang's
 * pragma is an error, under -Werror, where the count is not a constant) */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define MW_UNROLL _Pragma("GCC unroll 16")
#else
#define MW_UNROLL
#endif

/* pointers that never overlap (__restrict: GCC, Clang and MSVC's C alike) */
#if defined(__GNUC__) || defined(_MSC_VER)
#define MW_RESTRICT __restrict
#else
#define MW_RESTRICT
#endif

/* n floats of the bits `bits`: memset for zeros, wmemset (a 32-bit wchar_t:
 * glibc's is vectorised like memset, about twice a plain SSE loop's speed
 * into L2) for any other value, a loop where wchar_t is 16 bits (Windows) */
#if defined(__SIZEOF_WCHAR_T__) && __SIZEOF_WCHAR_T__ == 4
#include <wchar.h>
#endif
#include <string.h>
static inline void mw_fill_bits(float *out, ptrdiff_t n, uint32_t bits)
{
    if (bits == 0) {
        memset(out, 0, (size_t)n * sizeof(float));
        return;
    }
#if defined(__SIZEOF_WCHAR_T__) && __SIZEOF_WCHAR_T__ == 4
    wmemset((wchar_t *)out, (wchar_t)bits, (size_t)n);
#else
    {
        float v;
        ptrdiff_t j;
        memcpy(&v, &bits, sizeof v);
        for (j = 0; j < n; j++)
            out[j] = v;
    }
#endif
}

#endif
