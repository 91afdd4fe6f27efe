/* mw_guard.h -- one filler at a time.
 *
 * A generator or a session engine is state that one thread advances.  fill
 * releases the GIL, and the audio callback never holds it, so nothing in
 * Python keeps two threads out: this flag, in the C state itself, does.
 * mw_enter is one atomic exchange (no lock, never blocks, safe in the audio
 * callback); whoever finds the flag taken must not touch the state.
 */
#ifndef MW_GUARD_H
#define MW_GUARD_H

#include <stdint.h>

static inline int mw_enter(int* busy)
{
    return __atomic_exchange_n(busy, 1, __ATOMIC_ACQUIRE) == 0;
}

static inline void mw_leave(int* busy)
{
    __atomic_store_n(busy, 0, __ATOMIC_RELEASE);
}

/* A control-thread store the audio thread must see in the order written
 * (a scheduled end: its fade before its last sample). */
static inline void mw_publish_i64(int64_t* p, int64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* ... and its reader, which sees everything written before the store. */
static inline int64_t mw_acquire_i64(const int64_t* p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

#endif
