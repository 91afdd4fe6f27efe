# Declarations only: rationals and the schedule of onsets (csrc/mw_rational.h, csrc/mw_schedule.h).
from libc.stdint cimport int64_t

cdef extern from "mw_rational.h" nogil:
    ctypedef struct mw_rat:
        int64_t whole
        int64_t rem
        int64_t den

    void rat_add(mw_rat* a, const mw_rat* b)
    bint rat_ge(const mw_rat* a, const mw_rat* b)

cdef extern from "mw_schedule.h" nogil:
    ctypedef struct mw_schedule:
        int kind
        bint has_end
        int64_t end_whole
        double end_frac
        int64_t k
        bint done
        mw_rat period
        bint has_burst
        mw_rat burst_on
        mw_rat burst_cycle
        mw_rat pulse_clock
        mw_rat burst_clock
        mw_rat delay
        double inv_period_den, inv_burst_den
        int64_t tail_k
        bint sweep_log
        double f0, f1, sweep_s, rate, delay_s, phase_at_end
        const double* c_onsets
        const double* c_amps
        int64_t c_n
        double c_loop
        double c_delay

    bint sched_next(mw_schedule* s, int64_t* whole, double* frac, double* amp)
    void sched_reset(mw_schedule* s)

cdef extern from "mw_log.h" nogil:
    double mw_log(double x)
