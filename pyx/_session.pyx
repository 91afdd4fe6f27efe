# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled session engine: steps x channels of programs, the live level
control, the output stage, and the PortAudio callback that drives them.

`SessionEngine` owns a C struct (mw_session).  Offline renderers call
`fill(out)`; the real-time back end passes `callback_address()` and
`address()` to PortAudio, and the audio thread then runs `sess_fill` with no
Python and no GIL.  The control thread talks to it only through single
aligned stores of plain numbers (target level, pause, stop), which the audio
thread turns into ramps.
"""
from libc.stdlib cimport malloc, calloc, free
from posix.stdlib cimport posix_memalign
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t, uint64_t, INT64_MAX
from libc.math cimport fabs, isfinite
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
import numpy as np

from mw_program cimport (mw_program, program_start, program_fill, program_release, program_disown,
                         program_load, program_tile_need)
from mw_pulse cimport mw_train
from mw_envelope cimport mw_envelope, MW_SHAPE_HOLD, MW_SHAPE_COSINE
from mw_stage cimport MW_MAX_CH, mw_stage, stage_apply, stage_settled
from mw_supervisor cimport mw_sup_init, MW_SUP_CURRENT, MW_SUP_STORED, MW_SUP_RAIL, MW_SUP_SOFT
from mw_guard cimport mw_enter, mw_leave

cdef enum:
    MW_BLOCK = 1024
    PA_CONTINUE = 0
    PA_COMPLETE = 1
    PA_INPUT_UNDERFLOW = 1
    PA_INPUT_OVERFLOW = 2
    PA_OUTPUT_UNDERFLOW = 4
    PA_OUTPUT_OVERFLOW = 8
    MW_GATE_SEGS = 4

# a step's gate: a soft start, a hold, a soft stop, and the silent last unit
cdef int GATE_SHAPE[MW_GATE_SEGS]
cdef double GATE_A[MW_GATE_SEGS]
cdef double GATE_B[MW_GATE_SEGS]
GATE_SHAPE[:] = [MW_SHAPE_COSINE, MW_SHAPE_HOLD, MW_SHAPE_COSINE, MW_SHAPE_HOLD]
GATE_A[:] = [0.0, 1.0, 1.0, 0.0]
GATE_B[:] = [1.0, 1.0, 0.0, 0.0]

MAX_CHANNELS = MW_MAX_CH
#: an AC supervisor ends the session when the drive comes this close to a bound
SUPERVISOR_SOFT = MW_SUP_SOFT


cdef struct mw_session:
    int n_ch
    int n_steps
    int64_t* step_end          # absolute end sample of each step
    int64_t* ramp_min          # each step's shortest ramp: three of its units
    int64_t* unit_len          # each step's longest unit, samples
    int64_t quiet              # samples the level has been at zero
    float* levels              # the live level over a chunk (MW_BLOCK)
    # The programs.  Memory is bounded by the distinct programs and the
    # channels, not by the steps: each distinct program is compiled once
    # (uniq, never run), each step names one per channel and its gate, and
    # a step runs in a set of n_ch slots whose tiles come from a pool
    # allocated up front, so that entering a step -- in the audio thread --
    # is a copy, never an allocation.  Two sets let a step keep the tiles
    # a step before it recorded, when they play the same programs
    int n_uniq
    mw_program* uniq
    int* step_prog             # n_steps * n_ch: indices into uniq
    int64_t* gate              # n_steps * MW_GATE_SEGS samples, or NULL: no gate
    int n_slots
    mw_program* slots          # n_slots * n_ch
    int* slot_owner            # the uniq program each slot holds (and its tile), -1: none
    int cur                    # the slot set the current step runs in
    float* scratch             # n_ch * MW_BLOCK
    mw_stage stage
    bint unrouted              # some DAC channel has no program: zero it
    int step
    int64_t pos                # samples of the session played (pauses excluded)
    int64_t total              # the session ends here (auto-off included)
    # live control: written by the control thread, read by the audio thread
    double target              # wanted intensity multiplier
    double max_level           # never exceeded, whatever target says
    int64_t ramp_samples       # every level change is a linear ramp this long
    int64_t fade_from          # an early end (auto-off, duration) ramps down from here
    int64_t fade_to            # ... to a level of zero here, a whole unit before its end (total)
    int pause_req
    int stop_req
    # audio-thread state
    double level
    double goal                # the level the current ramp heads for
    double slew                # level change per sample of that ramp
    int finished
    int busy                   # a thread (or the callback) is filling it (mw_guard.h)
    uint64_t busy_blocks       # callbacks that found it busy and played silence
    int supervisor_stop        # the supervisor ended the session (a drive too close to a bound)
    int holding                # the programs are held (paused, stopped, ended): the coupling bleeds
    # real-time statistics and the sense input (written by the audio thread)
    uint64_t callbacks, underflows, overflows, input_overflows, frames_out
    uint64_t last_underflow_frame   # frames_out when the last underflow was reported
    double cb_seconds_max, cb_seconds_sum
    int sense_channel          # input channel carrying the sense voltage, -1: none
    int in_channels
    double sense_ua_per_unit   # input sample -> uA through the sense resistor
    double contact_min_ratio   # measured/driven below this means lost contact
    double contact_min_ua      # ... when the drive is at least this
    int64_t lost_frames, lost_after   # frames without contact so far, and how many mean lost
    int contact_lost
    double drive_mean_ua, sense_mean_ua   # moving averages of |current|, driven and measured
    double window_frames                  # their time constant (longer than the round trip)
    double drive_total_ua, sense_total_ua # sums of |current| over the whole stream
    float* ring                # recorded sense current, uA
    int64_t ring_len
    int64_t ring_write         # total written (monotonic)
    int64_t tail_frames        # silence kept streaming after the end (the sense input lags)


cdef inline double _seconds() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


cdef void sess_fill(mw_session* s, float* out, Py_ssize_t frames) noexcept nogil:
    """Write the next `frames` interleaved DAC frames."""
    cdef Py_ssize_t done = 0, m, k, f
    cdef int64_t t0
    cdef int c, C = s.stage.out_channels
    cdef double lvl, want, d
    cdef bint hold
    cdef int cur
    cdef const float* lev
    cdef uint64_t tight
    if s.unrouted:
        memset(out, 0, frames * C * sizeof(float))
    while done < frames:
        m = frames - done
        if m > MW_BLOCK:
            m = MW_BLOCK
        # a scheduled end (its fade, its last sample) is decided at its exact
        # sample, whatever the blocks
        if s.pos < s.fade_from and s.pos + m > s.fade_from:
            m = s.fade_from - s.pos
        if s.pos < s.total and s.pos + m > s.total:
            m = s.total - s.pos
        want = 0.0 if (s.pause_req or s.stop_req or s.pos >= s.fade_from) else s.target
        if s.holding and not stage_settled(&s.stage):
            want = 0.0     # paused: what the coupling stores is bled before anything resumes
        if want > s.max_level:
            want = s.max_level
        if want < 0.0:
            want = 0.0
        cur = s.step if s.step < s.n_steps else s.n_steps - 1
        if want != s.goal:
            # a new goal: reach it by a linear ramp of ramp_samples, and of
            # at least three units (the gain is taken one unit at a time)
            s.goal = want
            s.slew = fabs(want - s.level) / (s.ramp_samples if s.ramp_samples > s.ramp_min[cur] else s.ramp_min[cur])
        if s.pos >= s.fade_from and s.pos < s.total:
            # a scheduled end: whatever ramp is under way, the level is zero by
            # fade_to, so that the last unit that starts ends by the last sample
            d = s.level / (s.fade_to - s.pos) if s.fade_to > s.pos else s.level
            if d > s.slew:
                s.slew = d
        # silent, and the units that started before it are over: the programs
        # may stop (but not during a scheduled end: that runs to its sample)
        hold = s.level == 0.0 and want == 0.0 and s.quiet >= s.unit_len[cur] and s.pos < s.fade_from
        if hold or s.finished or s.pos >= s.total:
            # paused (or stopped, or ended) at silence: the programs do not
            # advance; the stage runs on zeros and bleeds what an AC coupling
            # stores, by a ramp of the drive (a resume waits for the bleed)
            if s.stop_req or s.pos >= s.total:
                s.finished = 1
            s.holding = 1
            memset(s.scratch, 0, s.n_ch * MW_BLOCK * sizeof(float))
            stage_apply(&s.stage, s.scratch, MW_BLOCK, out + done * C, m, s.pos, True)
            done += m
            continue
        s.holding = 0
        # the live level over this chunk: a gain each unit takes where it starts
        lvl = s.level
        lev = NULL
        if lvl != 1.0 or want != 1.0:
            lev = s.levels
            for f in range(m):
                d = want - lvl
                if d > s.slew:
                    d = s.slew
                elif d < -s.slew:
                    d = -s.slew
                lvl += d
                s.levels[f] = <float>lvl
                s.quiet = s.quiet + 1 if lvl == 0.0 else 0
        else:
            s.quiet = 0
        s.level = lvl
        # run the programs of the current step(s) into scratch
        t0 = s.pos
        k = 0
        while k < m:
            f = m - k
            if s.total - s.pos < f:
                f = s.total - s.pos
            if f <= 0 or s.step >= s.n_steps:
                for c in range(s.n_ch):
                    memset(s.scratch + c * MW_BLOCK + k, 0, (m - k) * sizeof(float))
                break
            if s.step_end[s.step] - s.pos < f:
                f = s.step_end[s.step] - s.pos
            for c in range(s.n_ch):
                program_fill(&s.slots[s.cur * s.n_ch + c], s.scratch + c * MW_BLOCK + k, f,
                             lev + k if lev != NULL else NULL)
            k += f
            s.pos += f
            if s.pos >= s.step_end[s.step]:
                s.step += 1
                _enter_step(s, s.step)
        if s.pos >= s.total:
            s.finished = 1
        tight = s.stage.sup.tight
        stage_apply(&s.stage, s.scratch, MW_BLOCK, out + done * C, m, t0, False)
        if s.stage.ac and s.stage.sup.tight > tight and not s.stop_req:
            # the drive came close to a bound: the live level moved with the
            # waveform in a way the check could not see (a steady level up to
            # max_level never gets here).  End the session as a stop does:
            # the units that start next take a falling gain, then the
            # coupling is bled; the reason is kept for the player to tell
            s.stop_req = 1
            s.supervisor_stop = 1
        done += m


cdef void _set_gate(mw_envelope* g, const int64_t* seg) noexcept nogil:
    """A step's gate from its segments' lengths (a segment of no sample is
    left out; a gate of no sample at all is silent, never unity)."""
    cdef int i
    g.n = 0
    g.loop = False
    g.after = 0.0
    for i in range(MW_GATE_SEGS):
        if seg[i] > 0:
            g.length[g.n] = seg[i]
            g.shape[g.n] = GATE_SHAPE[i]
            g.a[g.n] = GATE_A[i]
            g.b[g.n] = GATE_B[i]
            g.n += 1
    if g.n == 0:
        g.n = 1
        g.length[0] = 1
        g.shape[0] = MW_SHAPE_HOLD
        g.a[0] = g.b[0] = 0.0


cdef void _enter_step(mw_session* s, int i) noexcept nogil:
    """Make step ``i``'s programs the ones that run, from its first sample:
    in the slot set that already holds them (their tiles recorded), else
    in the set the step before did not use.  Copies; never allocates."""
    cdef int c, k, u, best = -1
    cdef mw_program* p
    if i >= s.n_steps:
        return
    for k in range(s.n_slots):
        best = k
        for c in range(s.n_ch):
            if s.slot_owner[k * s.n_ch + c] != s.step_prog[i * s.n_ch + c]:
                best = -1
                break
        if best >= 0:
            break
    if best < 0:
        best = (s.cur + 1) % s.n_slots
    s.cur = best
    for c in range(s.n_ch):
        p = &s.slots[best * s.n_ch + c]
        u = s.step_prog[i * s.n_ch + c]
        if s.slot_owner[best * s.n_ch + c] != u:
            program_load(p, &s.uniq[u])
            s.slot_owner[best * s.n_ch + c] = u
        if s.gate != NULL:
            _set_gate(&p.gate, s.gate + i * MW_GATE_SEGS)
        program_start(p)


cdef int mw_pa_callback(const void* input, void* output, unsigned long frames,
                        const void* time_info, unsigned long status, void* user) noexcept nogil:
    """PortAudio stream callback: no Python, no GIL, no allocation, no lock."""
    cdef mw_session* s = <mw_session*>user
    cdef double t0 = _seconds(), dt, drive = 0.0, sense = 0.0, a
    cdef const float* inp = <const float*>input
    cdef Py_ssize_t f
    cdef int C = s.stage.out_channels
    s.callbacks += 1
    if status & PA_OUTPUT_UNDERFLOW:
        s.underflows += 1
        s.last_underflow_frame = s.frames_out
    if status & PA_OUTPUT_OVERFLOW:
        s.overflows += 1
    if status & PA_INPUT_OVERFLOW:
        s.input_overflows += 1
    if mw_enter(&s.busy):
        sess_fill(s, <float*>output, frames)
        mw_leave(&s.busy)
    else:
        # a Python thread is filling this engine (a misuse): never touch the
        # state it is advancing; the DAC returning to zero is within the limit
        memset(output, 0, frames * C * sizeof(float))
        s.busy_blocks += 1
    s.frames_out += frames
    if inp != NULL and s.sense_channel >= 0:
        for f in range(frames):
            sense = sense + fabs(inp[f * s.in_channels + s.sense_channel] * s.sense_ua_per_unit)
            s.ring[s.ring_write % s.ring_len] = <float>(inp[f * s.in_channels + s.sense_channel] * s.sense_ua_per_unit)
            s.ring_write += 1
            drive = drive + fabs((<float*>output)[f * C + s.stage.pos[0]] / s.stage.gain[0])
        s.drive_total_ua += drive
        s.sense_total_ua += sense
        drive /= frames
        sense /= frames
        # exponential moving averages: the input lags the output by the
        # round trip, so only averages over a longer window can be compared
        a = frames / (s.window_frames + frames)
        s.drive_mean_ua += a * (drive - s.drive_mean_ua)
        s.sense_mean_ua += a * (sense - s.sense_mean_ua)
        if s.drive_mean_ua >= s.contact_min_ua and s.sense_mean_ua < s.contact_min_ratio * s.drive_mean_ua:
            s.lost_frames += frames
            if s.lost_frames >= s.lost_after:
                s.contact_lost = 1
                s.pause_req = 1
        else:
            s.lost_frames = 0
    dt = _seconds() - t0
    s.cb_seconds_sum += dt
    if dt > s.cb_seconds_max:
        s.cb_seconds_max = dt
    if s.finished and stage_settled(&s.stage):
        # the coupling is bled; keep streaming silence for a while: the
        # ramp's last samples must be played, not dropped with the device's
        # buffer, and a sense input must see them come back
        if s.tail_frames <= 0:
            return PA_COMPLETE
        s.tail_frames -= frames
    return PA_CONTINUE


cdef class SessionEngine:
    """Steps x channels of compiled generators behind one output stage.

    Built by microwave.sessions; `fill(out)` writes interleaved DAC frames
    (float32, shape (frames, out_channels)) and continues exactly.
    """
    cdef mw_session s
    cdef object _keep
    cdef readonly double rate

    def __cinit__(self, list programs, step_samples, step_programs, dict stage, int64_t total_samples,
                  double rate, double ramp_s=0.5, double max_level=1.0, ramp_min=None, unit_len=None,
                  step_gates=None):
        """``programs``: the session's distinct compiled programs
        (Generators; each gives up its buffers here).  ``step_programs``:
        per step, the index of each channel's program.  ``step_gates``:
        per step, the samples of its soft start, hold, soft stop and
        silent tail (None: no gate).  ``ramp_min``, ``unit_len``: per step,
        its shortest ramp and its longest unit, in samples."""
        cdef int i, c, k, u, n_uniq = len(programs)
        cdef int64_t[::1] samples = np.ascontiguousarray(step_samples, dtype=np.int64)
        cdef int64_t[:, ::1] idx = np.ascontiguousarray(step_programs, dtype=np.int64)
        cdef int64_t[:, ::1] gates
        cdef int n_steps = samples.shape[0]
        cdef int n_ch = idx.shape[1] if n_steps else 1
        cdef mw_program* src
        cdef int64_t acc = 0, need
        cdef float* tile
        cdef bint ends = False
        memset(&self.s, 0, sizeof(mw_session))
        if n_ch > MW_MAX_CH or stage["out_channels"] > MW_MAX_CH:
            raise ValueError(f"channels={max(n_ch, stage['out_channels'])} is not allowed: at most {MW_MAX_CH}")
        if idx.shape[0] != n_steps or n_steps == 0 or n_uniq == 0:
            raise ValueError(f"step_programs has {idx.shape[0]} rows for {n_steps} steps of {n_uniq} programs")
        self.rate = rate
        self._keep = programs
        self.s.n_ch = n_ch
        self.s.n_steps = n_steps
        self.s.n_uniq = n_uniq
        # two slot sets when steps change programs, one when they never do
        self.s.n_slots = 1
        for i in range(1, n_steps):
            for c in range(n_ch):
                if idx[i, c] != idx[0, c]:
                    self.s.n_slots = 2
        self.s.step_end = <int64_t*>calloc(n_steps + 1, sizeof(int64_t))
        self.s.uniq = <mw_program*>calloc(n_uniq, sizeof(mw_program))
        self.s.step_prog = <int*>calloc(n_steps * n_ch, sizeof(int))
        self.s.slots = <mw_program*>calloc(self.s.n_slots * n_ch, sizeof(mw_program))
        self.s.slot_owner = <int*>calloc(self.s.n_slots * n_ch, sizeof(int))
        self.s.scratch = <float*>calloc(n_ch * MW_BLOCK, sizeof(float))
        self.s.ramp_min = <int64_t*>calloc(n_steps + 1, sizeof(int64_t))
        self.s.unit_len = <int64_t*>calloc(n_steps + 1, sizeof(int64_t))
        self.s.levels = <float*>calloc(MW_BLOCK, sizeof(float))
        self.s.ring_len = 1
        self.s.ring = <float*>calloc(1, sizeof(float))
        if not (self.s.step_end and self.s.uniq and self.s.step_prog and self.s.slots and self.s.slot_owner
                and self.s.scratch and self.s.ring and self.s.ramp_min and self.s.unit_len and self.s.levels):
            raise MemoryError()
        if step_gates is not None:
            gates = np.ascontiguousarray(step_gates, dtype=np.int64).reshape(n_steps, MW_GATE_SEGS)
            self.s.gate = <int64_t*>malloc(n_steps * MW_GATE_SEGS * sizeof(int64_t))
            if self.s.gate == NULL:
                raise MemoryError()
            memcpy(self.s.gate, &gates[0, 0], n_steps * MW_GATE_SEGS * sizeof(int64_t))
        for u in range(n_uniq):
            src = <mw_program*><size_t>programs[u].struct_address()
            memcpy(&self.s.uniq[u], src, sizeof(mw_program))
            # the copy is compiled data, never run; the generator it came
            # from is only kept for its buffers (a custom train's onsets)
            program_disown(&self.s.uniq[u])
            program_release(src)
            ends = ends or self.s.uniq[u].train.sched.has_end
        for i in range(n_steps):
            acc += samples[i]
            self.s.step_end[i] = acc
            self.s.ramp_min[i] = ramp_min[i] if ramp_min is not None else 0
            self.s.unit_len[i] = unit_len[i] if unit_len is not None else 0
            for c in range(n_ch):
                if not 0 <= idx[i, c] < n_uniq:
                    raise ValueError(f"step_programs[{i}][{c}]={idx[i, c]} is not one of the {n_uniq} programs")
                self.s.step_prog[i * n_ch + c] = idx[i, c]
        # the pool: each slot's tile sized for the largest its channel needs
        for c in range(n_ch):
            need = 0
            for i in range(n_steps):
                need = max(need, program_tile_need(&self.s.uniq[self.s.step_prog[i * n_ch + c]]))
            for k in range(self.s.n_slots):
                self.s.slot_owner[k * n_ch + c] = -1
                self.s.slots[k * n_ch + c].train.pooled = True
                if need > 0:
                    if posix_memalign(<void**>&tile, 64, need * sizeof(float)) != 0:
                        raise MemoryError()
                    self.s.slots[k * n_ch + c].train.tile = tile
                    self.s.slots[k * n_ch + c].train.tile_cap = need
                if ends:
                    self.s.slots[k * n_ch + c].train.snap = <mw_train*>malloc(sizeof(mw_train))
                    if self.s.slots[k * n_ch + c].train.snap == NULL:
                        raise MemoryError()
        self.s.total = min(total_samples, acc)
        # ending before the session's own soft stop: fade out over the ramp first
        self.s.ramp_samples = max(1, <int64_t>(ramp_s * rate + 0.5))
        self.s.fade_from = self._fade_start(self.s.total) if self.s.total < acc else self.s.total
        self.s.fade_to = max(0, self.s.total - self._unit_max()) if self.s.total < acc else self.s.total
        st = &self.s.stage
        st.out_channels = stage["out_channels"]
        st.n_prog = n_ch
        for c in range(n_ch):
            st.pos[c], st.neg[c] = stage["routes"][c]
            st.gain[c] = stage["gain"][c]
        st.clamp = stage["clamp"]
        routed = {r for pair in stage["routes"] for r in pair if r >= 0}
        self.s.unrouted = len(routed) < st.out_channels
        st.ac = stage["coupling"] == "ac"
        if st.ac:
            mw_sup_init(&st.sup, stage["corner_hz"], stage["corner_tolerance"], rate, stage["limit_ua"],
                        stage["bleed_fraction"])
            st.sup.measure = stage.get("measure", False)
            for c in range(n_ch):
                st.ch[c].rail = stage["rail_ua"][c]
                st.ch[c].gain = stage["gain"][c]
        self.s.target = 1.0
        self.s.level = 1.0
        self.s.max_level = max_level
        self.s.goal = 1.0
        self.s.sense_channel = -1
        self.rewind()

    def __dealloc__(self):
        cdef int i
        if self.s.slots != NULL:
            for i in range(self.s.n_slots * self.s.n_ch):
                free(self.s.slots[i].train.tile)
                free(self.s.slots[i].train.snap)
        free(self.s.step_end)
        free(self.s.uniq)
        free(self.s.step_prog)
        free(self.s.gate)
        free(self.s.slots)
        free(self.s.slot_owner)
        free(self.s.scratch)
        free(self.s.ramp_min)
        free(self.s.unit_len)
        free(self.s.levels)
        free(self.s.ring)

    cdef int _enter(self, str what) except -1:
        if not mw_enter(&self.s.busy):
            raise RuntimeError(f"SessionEngine.{what}: another thread (or the audio callback) is filling this "
                               f"engine; one engine is one stream -- build another with session.engine()")
        return 0

    def rewind(self):
        """Back to the start of the session (level at the target, no ramp)."""
        self._enter("rewind")
        self._rewind()
        mw_leave(&self.s.busy)

    cdef void _rewind(self):
        self.s.level = self.s.goal = min(max(self.s.target, 0.0), self.s.max_level)
        _enter_step(&self.s, 0)
        self.s.step = 0
        self.s.pos = 0
        self.s.quiet = 0
        self.s.finished = 0
        self.s.holding = 0
        if not stage_settled(&self.s.stage):
            # the coupling is physical: what it stores outlives a rewind.  The
            # session starts again from silence once it has been bled
            self.s.level = 0.0
            self.s.holding = 1
            self.s.quiet = INT64_MAX
        self.s.supervisor_stop = 0
        self.s.stop_req = 0
        self.s.pause_req = 0

    def fill(self, float[:, ::1] out not None):
        """Write the next ``out.shape[0]`` frames of DAC samples."""
        if out.shape[1] != self.s.stage.out_channels:
            raise ValueError(f"out has {out.shape[1]} channels: the stage drives {self.s.stage.out_channels}")
        if out.shape[0] == 0:
            return
        self._enter("fill")
        with nogil:
            sess_fill(&self.s, &out[0, 0], out.shape[0])
        mw_leave(&self.s.busy)

    def render(self, Py_ssize_t frames):
        out = np.empty((frames, self.s.stage.out_channels), dtype=np.float32)
        self.fill(out)
        return out

    # ---- live control (plain stores; the audio thread ramps) ----
    def set_level(self, double level):
        """Ask for a new intensity multiplier (clipped to what the stage
        allows); the audio thread reaches it by a linear ramp of ramp_s."""
        if not isfinite(level) or level < 0.0:
            raise ValueError(f"level={level!r} is not allowed: it must be finite and >= 0 "
                             f"(at most {self.s.max_level:g} takes effect)")
        self.s.target = level

    def stop_at(self, int64_t frame):
        """End the session at ``frame`` (session samples, pauses excluded):
        the level ramps down over ramp_s to reach silence there, decided at
        that exact sample whatever the block sizes (as ``duration_s`` and
        the auto-off are)."""
        if frame < 0:
            raise ValueError(f"frame={frame} is not allowed: it must be >= 0")
        # no sooner than a unit in progress can end (before the first sample
        # none is: then the end may come at once, the level zero from the start)
        if self.s.pos > 0:
            frame = max(frame, self.s.pos + self._unit_max())
        if frame < self.s.total:
            self.s.total = frame
            self.s.fade_from = self._fade_start(frame)
            self.s.fade_to = max(0, frame - self._unit_max())

    cdef int64_t _fade_start(self, int64_t end):
        """Where the fade of an end at ``end`` starts: a ramp of ramp_s (and of
        at least three units), then the longest unit's length at silence, so
        that every unit that started ends before the last sample."""
        return max(0, end - self.end_samples)

    @property
    def settled(self):
        """True once the session has ended and no coupling stores charge:
        the DAC may stop without a current flowing."""
        return bool(self.s.finished and stage_settled(&self.s.stage))

    cdef uint64_t _clamped(self):
        """Samples the stage's clamp changed (DC) or its supervisor clamped (AC)."""
        return self.s.stage.clamped + (self.s.stage.sup.clamped if self.s.stage.ac else 0)

    @property
    def supervision(self):
        """What the supervisor saw: ``clamped`` samples (0 for every
        session that passed its check, at any level up to max_level), and
        for an engine built to measure (``Session.check``) the worst ratio
        of the modelled current, stored charge or drive to its bound, where
        it fell and for which corner."""
        st = &self.s.stage
        out = {"clamped": self._clamped(), "stopped": bool(self.s.supervisor_stop),
               "tight": st.sup.tight if st.ac else 0}
        if st.ac:
            kinds = {MW_SUP_CURRENT: "current", MW_SUP_STORED: "stored", MW_SUP_RAIL: "rail"}
            out.update(worst=st.sup.worst, at=st.sup.worst_at, peak_current_ua=st.sup.peak[MW_SUP_CURRENT],
                       peak_stored_ua=st.sup.peak[MW_SUP_STORED], peak_drive_ua=st.sup.peak[MW_SUP_RAIL], what=kinds.get(st.sup.worst_what),
                       channel=st.sup.worst_channel, limit_ua=st.sup.limit,
                       corner_hz=st.sup.f[st.sup.worst_corner] if st.sup.worst_corner >= 0 else None,
                       corners_hz=[st.sup.f[k] for k in range(st.sup.k)],
                       rail_ua=(st.ch[st.sup.worst_channel].rail if st.sup.worst_channel >= 0 else None),
                       bleed_ua_per_sample=st.sup.bleed)
        return out

    @property
    def max_level(self):
        return self.s.max_level

    @property
    def ramp_samples(self):
        return self.s.ramp_samples

    cdef int64_t _unit_max(self):
        cdef int i
        cdef int64_t unit = 0
        for i in range(self.s.n_steps):
            unit = max(unit, self.s.unit_len[i])
        return unit

    @property
    def end_samples(self):
        """The longest a controlled end takes to reach silence, in samples:
        a ramp (ramp_s, or three units if longer), then the unit in
        progress, which finishes at its own gain (the bleed comes after)."""
        cdef int i
        cdef int64_t ramp = self.s.ramp_samples
        for i in range(self.s.n_steps):
            ramp = max(ramp, self.s.ramp_min[i])
        return ramp + self._unit_max()

    def pause(self, bint paused=True):
        self.s.pause_req = paused
        if not paused:
            self.s.contact_lost = 0
            self.s.lost_frames = 0

    def stop(self):
        """Ramp to silence, then finish."""
        self.s.stop_req = 1

    def configure_sense(self, int channel, int in_channels, double ua_per_unit, double min_ratio=0.1,
                        double min_ua=5.0, int64_t lost_after=4800, Py_ssize_t ring_frames=1 << 20,
                        double window_frames=24000):
        """Record input `channel` as current, and pause when, averaged over
        `window_frames`, less than `min_ratio` of the driven current flows
        for `lost_after` frames."""
        cdef float* ring = <float*>calloc(ring_frames, sizeof(float))
        if ring == NULL:
            raise MemoryError()
        free(self.s.ring)
        self.s.ring = ring
        self.s.ring_len = ring_frames
        self.s.ring_write = 0
        self.s.sense_channel = channel
        self.s.in_channels = in_channels
        self.s.sense_ua_per_unit = ua_per_unit
        self.s.contact_min_ratio = min_ratio
        self.s.contact_min_ua = min_ua
        self.s.lost_after = lost_after
        self.s.window_frames = window_frames

    def set_tail(self, int64_t frames):
        """Frames of silence streamed after the end before the stream completes."""
        self.s.tail_frames = frames
    def recorded(self):
        """The sense current recorded so far (uA), up to the ring's length."""
        n = min(self.s.ring_write, self.s.ring_len)
        start = self.s.ring_write - n
        ring = np.asarray(<float[:self.s.ring_len]>self.s.ring)
        idx = (np.arange(start, self.s.ring_write) % self.s.ring_len)
        return ring[idx].copy()

    @property
    def state(self):
        """A snapshot of position, level and real-time statistics."""
        return {
            "position": self.s.pos, "step": self.s.step, "level": self.s.level, "target": self.s.target,
            "finished": bool(self.s.finished), "paused": bool(self.s.pause_req), "total": self.s.total,
            "callbacks": self.s.callbacks, "underflows": self.s.underflows, "overflows": self.s.overflows,
            "input_overflows": self.s.input_overflows, "frames": self.s.frames_out,
            "last_underflow_frame": self.s.last_underflow_frame,
            "callback_max_s": self.s.cb_seconds_max,
            "callback_mean_s": self.s.cb_seconds_sum / self.s.callbacks if self.s.callbacks else 0.0,
            "contact_lost": bool(self.s.contact_lost), "drive_ua": self.s.drive_mean_ua, "sense_ua": self.s.sense_mean_ua,
            "drive_total_ua": self.s.drive_total_ua, "sense_total_ua": self.s.sense_total_ua,
            "busy_blocks": self.s.busy_blocks, "supervisor_stop": bool(self.s.supervisor_stop),
            "clamped": self._clamped(),
        }

    def reset_stats(self):
        """Start the real-time statistics afresh (counts and callback times)."""
        self.s.callbacks = self.s.underflows = self.s.overflows = self.s.input_overflows = 0
        self.s.frames_out = 0
        self.s.cb_seconds_max = self.s.cb_seconds_sum = 0.0

    def address(self):
        """Address of the C session struct: the callback's user data."""
        return <size_t>&self.s

    @staticmethod
    def callback_address():
        """Address of the compiled PortAudio callback."""
        return <size_t>&mw_pa_callback
