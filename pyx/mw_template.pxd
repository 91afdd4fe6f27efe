# Declarations only: the pulse template (csrc/mw_template.h).
from libc.stdint cimport int64_t
from mw_limits cimport MW_MAX_BP

cdef extern from "mw_template.h" nogil:
    ctypedef struct mw_template:
        int nbp
        double tau[MW_MAX_BP]
        double v[MW_MAX_BP]
        double slope[MW_MAX_BP]
        double cum[MW_MAX_BP]
        double end
        bint rect

    void tpl_finish(mw_template* t)
    double tpl_cum(const mw_template* t, double x)
    void tpl_render(const mw_template* t, double f, double a, float* dst, int64_t L)
