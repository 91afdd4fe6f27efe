# Declarations only: the session engine's C state, its fill and the
# PortAudio callback (csrc/mw_session.h).
from libc.stdint cimport int64_t, uint64_t
from mw_program cimport mw_program
from mw_stage cimport mw_stage
from mw_record cimport mw_record

cdef extern from "mw_session.h" nogil:
    enum:
        MW_BLOCK
        MW_GATE_SEGS
        MW_REWIND_SILENCE

    ctypedef struct mw_session:
        int n_ch
        int n_steps
        int64_t* step_end
        int64_t* ramp_min
        int64_t* unit_len
        int64_t quiet
        float* levels
        int n_uniq
        mw_program* uniq
        int* step_prog
        int64_t* gate
        int n_slots
        mw_program* slots
        int* slot_owner
        int cur
        float* scratch
        mw_stage stage
        bint unrouted
        int step
        int64_t pos
        int64_t total
        double target
        double max_level
        int64_t ramp_samples
        int64_t fade_from
        int64_t fade_to
        int pause_req
        int stop_req
        int streamed
        int64_t end_req
        int64_t end_seq
        int64_t end_seen
        int64_t resume_seq, resume_seen
        int64_t stats_seq, stats_seen
        int64_t unit_max
        int64_t end_len
        double level
        double goal
        double slew
        int finished
        int busy
        uint64_t busy_blocks
        int supervisor_stop
        uint64_t tight_mark
        int holding
        int64_t held
        int64_t owed
        int to_hold
        uint64_t callbacks, underflows, overflows, input_overflows, frames_out
        uint64_t last_underflow_frame
        uint64_t underflows_all
        double cb_seconds_max, cb_seconds_sum
        int sense_channel
        int in_channels
        double sense_ua_per_unit
        double contact_min_ratio
        double contact_min_ua
        int64_t lost_frames, lost_after
        int contact_lost
        double drive_mean_ua, sense_mean_ua
        double window_frames
        double drive_total_ua, sense_total_ua
        float* ring
        int64_t ring_len
        int64_t ring_write
        int64_t tail_frames
        double first_dac_time
        mw_record rec

    void sess_fill(mw_session* s, float* out, Py_ssize_t frames)
    void sess_enter_step(mw_session* s, int i)
    void sess_take_end(mw_session* s)
    void sess_take_asks(mw_session* s)
    int mw_pa_callback(const void* input, void* output, unsigned long frames,
                       const void* time_info, unsigned long status, void* user)
