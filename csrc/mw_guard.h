/* mw_guard.h -- one filler at a time.
 *
 * A generator or a session engine is state that one thread advances.  fill
 * releases the GIL, and the audio callback never holds it, so nothing in
 * Python keeps two threads out: this flag, in the C state itself, does.
 * mw_enter is one atomic exchange (no lock, never blocks, safe in the audio
 * callback); whoever finds the flag taken must not touch the state.  The
 * atomics themselves are mw_port.h's, for each compiler.
 */
#ifndef MW_GUARD_H
#define MW_GUARD_H

#include <stdint.h>
#include "mw_port.h"

static inline int mw_enter(int* busy)
{
    return mw_xchg_acquire_i32(busy, 1) == 0;
}

static inline void mw_leave(int* busy)
{
    mw_store_release_i32(busy, 0);
}

/* A control-thread store the audio thread must see in the order written
 * (a scheduled end: its fade before its last sample). */
static inline void mw_publish_i64(int64_t* p, int64_t v)
{
    mw_store_release_i64(p, v);
}

/* ... and its reader, which sees everything written before the store. */
static inline int64_t mw_acquire_i64(const int64_t* p)
{
    return mw_load_acquire_i64(p);
}

#endif
