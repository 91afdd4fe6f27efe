# Declarations only: the supervisor's C kernel (csrc/mw_supervisor.h, where
# the model of the current that flows and its bounds are written out).
from libc.stdint cimport int64_t, uint64_t

cdef extern from "mw_supervisor.h" nogil:
    enum:
        MW_SUP_K
        MW_SUP_CURRENT
        MW_SUP_STORED
        MW_SUP_RAIL
        MW_SUP_DRIVE

    const double MW_SUP_SOFT
    const double MW_SUP_RESTART

    ctypedef struct mw_sup:
        int k
        double f[MW_SUP_K]
        double d[MW_SUP_K]
        int nominal
        int nominal_pair
        int moving
        double limit
        double bleed
        int measure
        double between_ua
        double pre_ring
        uint64_t clamped
        uint64_t tight
        double peak[4]
        double peak_pre
        double worst
        int64_t worst_at
        int worst_what
        int worst_corner
        int worst_channel
        int64_t over_at
        int over_what
        int over_channel

    ctypedef struct mw_sup_ch:
        int nominal
        double x
        double xb
        double q[MW_SUP_K]
        double rail
        double gain

    int mw_sup_corners(double corner_hz, double pair_hz, double lo_hz, double hi_hz, double* f)
    int mw_sup_init(mw_sup* s, double corner_hz, double pair_hz, double lo_hz, double hi_hz, double rate,
                    double limit_ua, double bleed_fraction)
    void mw_sup_run(mw_sup* s, mw_sup_ch* ch, int channel, float* buf, int64_t n, int64_t t0, int bleed)
    int mw_sup_settled(const mw_sup_ch* ch)
