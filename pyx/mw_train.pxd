# Declarations only: the pulse train (csrc/mw_train.h, where its caches,
# its tile and who owns them are described).
from libc.stdint cimport int64_t
from mw_template cimport mw_template
from mw_schedule cimport mw_schedule
from mw_pattern cimport mw_pattern

cdef extern from "mw_train.h" nogil:
    ctypedef struct mw_train:
        mw_template tpl
        mw_schedule sched
        mw_pattern pat
        double sign
        int64_t n
        bint no_tile
        bint pooled
        bint no_slots
        bint tile_ready
        int64_t tile_len, tile_cap
        int64_t split_fills
        float* tile
        mw_train* snap

    enum:
        MW_SPLIT_MIN

    ctypedef struct mw_split:
        Py_ssize_t n

    void train_split_first(mw_split* job)
    void train_split_second(mw_split* job)

    void train_start(mw_train* s)
    void train_fill(mw_train* s, float* out, Py_ssize_t N)
    void train_release(mw_train* s)
    void train_disown(mw_train* s)
    int64_t train_tile_need(const mw_train* s)
