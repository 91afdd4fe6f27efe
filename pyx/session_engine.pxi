# session_engine.pxi -- included by pyx/_core.pyx (one extension, microwave._core).
#
# Compiled session engine: steps x channels of programs, the live level
# control, the output stage, and the PortAudio callback that drives them.
#
# `SessionEngine` owns a C struct (mw_session).  Offline renderers call
# `fill(out)`; the real-time back end passes `callback_address()` and
# `address()` to PortAudio, and the audio thread then runs `sess_fill`
# (csrc/mw_session.c) with no Python and no GIL.  The control thread talks to it only through single
# aligned stores of plain numbers (target level, pause, stop), which the audio
# thread turns into ramps.
#
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memset
from libc.stdint cimport int64_t, uint64_t, INT64_MAX
from libc.math cimport isfinite
from cpython.pycapsule cimport PyCapsule_GetPointer
import numpy as np

from mw_limits cimport MW_MAX_CH
from mw_program cimport mw_program, program_disown, program_tile_need
from mw_train cimport mw_train
from mw_stage cimport mw_stage, stage_settled, stage_drained, stage_cut
from mw_session cimport (mw_session, sess_fill, sess_enter_step, sess_take_end, sess_take_asks, mw_pa_callback, MW_BLOCK,
                        MW_GATE_SEGS)
from mw_session cimport MW_REWIND_SILENCE
from mw_supervisor cimport mw_sup_init, mw_sup_corners, MW_SUP_K, MW_SUP_CURRENT, MW_SUP_STORED, MW_SUP_RAIL, MW_SUP_DRIVE, MW_SUP_SOFT, MW_SUP_RESTART
from mw_guard cimport mw_enter, mw_leave, mw_publish_i64, mw_acquire_i64
from mw_record cimport mw_record, mw_rec_entry, rec_push, rec_finish, rec_pop, MW_REC_FLUSH_S
from mw_port cimport mw_aligned_alloc, mw_aligned_free


#: frames of silence a rewind from mid-play starts with (csrc/mw_session.h)
REWIND_SILENCE = MW_REWIND_SILENCE

#: One entry of the delivered record (csrc/mw_record.h, ``mw_rec_entry``):
#: what flowed during about 0.1 s of one step, through the stage's model of
#: the electrode current; the first ``n_ch`` of each per-channel array hold
#: the session's program channels.  See ``SessionEngine.drain_record``.
RECORD_DTYPE = np.dtype([
    ("step", "<i4"), ("n_ch", "<i4"), ("start", "<i8"), ("frames", "<i8"), ("played", "<i8"),
    ("underflows", "<u8"), ("level_sum", "<f8"), ("level_max", "<f8"),
    ("peak_ua", "<f4", (MW_MAX_CH,)), ("charge_pos_uc", "<f8", (MW_MAX_CH,)),
    ("charge_neg_uc", "<f8", (MW_MAX_CH,)),
])
#: seconds of stream an entry holds at most (an entry also ends with its step)
RECORD_FLUSH_S = MW_REC_FLUSH_S


cdef int _check_record_layout() except -1:
    # the dtype mirrors the C struct, field by field: checked once, at import
    cdef mw_rec_entry e
    cdef char* b = <char*>&e
    where = {"step": <char*>&e.step - b, "n_ch": <char*>&e.n_ch - b, "start": <char*>&e.start - b,
             "frames": <char*>&e.frames - b, "played": <char*>&e.played - b,
             "underflows": <char*>&e.underflows - b, "level_sum": <char*>&e.level_sum - b,
             "level_max": <char*>&e.level_max - b, "peak_ua": <char*>&e.peak_ua[0] - b,
             "charge_pos_uc": <char*>&e.charge_pos_uc[0] - b, "charge_neg_uc": <char*>&e.charge_neg_uc[0] - b}
    got = {k: RECORD_DTYPE.fields[k][1] for k in where}
    if got != where or RECORD_DTYPE.itemsize != sizeof(mw_rec_entry):
        raise ImportError(f"RECORD_DTYPE {got} ({RECORD_DTYPE.itemsize} bytes) does not mirror mw_rec_entry "
                          f"{where} ({sizeof(mw_rec_entry)} bytes)")
    return 0


_check_record_layout()
#: an AC supervisor ends the session when the drive comes this close to a bound
SUPERVISOR_SOFT = MW_SUP_SOFT
#: after a hold (a pause, a rewind, a level of zero) an AC session plays
#: again once the charge its coupling stores is at most this fraction of the
#: limit (or of the DAC's swing, when that is less) at every corner
SUPERVISOR_RESTART = MW_SUP_RESTART
#: the most corners an AC supervisor models (see supervisor_corners)
SUPERVISOR_MAX_CORNERS = MW_SUP_K


def supervisor_corners(double corner_hz, double lo_hz, double hi_hz, pair_hz=None):
    """The corners (Hz, slowest first) an AC supervisor models for a
    coupling somewhere in [lo_hz, hi_hz], ``corner_hz`` (the nominal one,
    whose charge the pre-emphasis makes up for) among them, and
    ``pair_hz`` too (a bridged pair's loop's nominal corner where it
    differs: a voltage-mode stage's, twice ``corner_hz``; None: none):
    spaced geometrically at most 15 % apart, at least seven where the
    range allows (``csrc/mw_supervisor.h``).

    Raises
    ------
    ValueError
        ``0 < lo_hz <= corner_hz <= pair_hz <= hi_hz`` (finite) does not
        hold, or the range needs more than :data:`SUPERVISOR_MAX_CORNERS`
        corners (the message says how many).
    """
    cdef double f[MW_SUP_K]
    cdef double pair = corner_hz if pair_hz is None else pair_hz
    cdef int n
    if not (0.0 < lo_hz <= corner_hz <= pair <= hi_hz < float("inf")):
        raise ValueError(f"corners lo_hz={lo_hz!r}, corner_hz={corner_hz!r}, pair_hz={pair_hz!r}, hi_hz={hi_hz!r} "
                         f"are not allowed: 0 < lo_hz <= corner_hz <= pair_hz (if given) <= hi_hz, finite")
    n = mw_sup_corners(corner_hz, pair, lo_hz, hi_hz, f)
    if n > MW_SUP_K:
        raise ValueError(f"corners from {lo_hz:.4g} to {hi_hz:.4g} Hz need {n} modelled corners 15 % apart, more than "
                         f"the {MW_SUP_K} the supervisor models (a ratio of {hi_hz / lo_hz:.3g}; at most about "
                         f"{1.15 ** (MW_SUP_K - 1):.3g})")
    return tuple(f[k] for k in range(n))


cdef class SessionEngine:
    """Steps x channels of compiled generators behind one output stage.

    Built by microwave.sessions; `fill(out)` writes interleaved DAC frames
    (float32, shape (frames, out_channels)) and continues exactly.
    """
    cdef mw_session s
    cdef object _keep
    cdef readonly double rate

    def __cinit__(self, list programs, step_samples, step_programs, stage, total_samples,
                  rate, ramp_s=0.5, max_level=1.0, ramp_min=None, unit_len=None,
                  step_gates=None):
        """``programs``: the session's distinct compiled programs
        (Generators, copied through their named capsules; each keeps what it owns).  ``step_programs``:
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
        from microwave.plans import StagePlan
        # (built by microwave.sessions, which checks these with the session's
        # own names; built directly, each is checked here, as a Generator's are)
        rate = _checks.number("rate", rate, _checks.MIN_RATE, _checks.MAX_RATE, unit="Hz")
        ramp_s = _checks.number("ramp_s", ramp_s, 0, 60, lo_open=True, unit="s")
        max_level = _checks.number("max_level", max_level, 0)
        total_samples = _count("total_samples", total_samples, 0, INT64_MAX, "samples")
        if not isinstance(stage, StagePlan):
            raise TypeError(f"stage={stage!r} must be a microwave.plans.StagePlan (Stage.plan), "
                            f"not {type(stage).__name__}")
        memset(&self.s, 0, sizeof(mw_session))
        if n_ch > MW_MAX_CH or stage.out_channels > MW_MAX_CH:
            raise ValueError(f"channels={max(n_ch, stage.out_channels)} is not allowed: at most {MW_MAX_CH}")
        if len(stage.routes) < n_ch:
            raise ValueError(f"stage.routes has {len(stage.routes)} routes for {n_ch} program channels: one each")
        if idx.shape[0] != n_steps or n_steps == 0 or n_uniq == 0:
            raise ValueError(f"step_programs has {idx.shape[0]} rows for {n_steps} steps of {n_uniq} programs")
        self.rate = rate
        self._keep = tuple(programs)     # its own: a caller's list may be emptied
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
            opener = getattr(programs[u], "program_capsule", None)
            if opener is None:
                raise TypeError(f"programs[{u}]={programs[u]!r} must be a microwave._core.Generator")
            # a named capsule: anything but a generator's program is refused here
            src = <mw_program*>PyCapsule_GetPointer(opener(), b"microwave._core.mw_program")
            # the generator's own guard: a thread filling it must not see
            # its tile freed under it (nor this copy a half-written state)
            if not mw_enter(&src.busy):
                raise RuntimeError(f"programs[{u}] is being filled by another thread: a session engine copies "
                                   f"its generators, so build it from generators no other thread uses")
            memcpy(&self.s.uniq[u], src, sizeof(mw_program))
            # the copy is compiled data, never run; the generator it came
            # from is kept (a custom train's onsets live in it) and keeps its own tile
            program_disown(&self.s.uniq[u])
            self.s.uniq[u].busy = 0
            mw_leave(&src.busy)       # the generator keeps all it owns
            ends = ends or self.s.uniq[u].train.sched.has_end
        for i in range(n_steps):
            if samples[i] < 0:
                raise ValueError(f"step_samples[{i}]={samples[i]} is not allowed: a step lasts >= 0 samples")
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
                    tile = <float*>mw_aligned_alloc(64, need * sizeof(float))
                    if tile == NULL:
                        raise MemoryError()
                    self.s.slots[k * n_ch + c].train.tile = tile
                    self.s.slots[k * n_ch + c].train.tile_cap = need
                if ends:
                    self.s.slots[k * n_ch + c].train.snap = <mw_train*>malloc(sizeof(mw_train))
                    if self.s.slots[k * n_ch + c].train.snap == NULL:
                        raise MemoryError()
        self.s.ramp_samples = max(1, <int64_t>(ramp_s * rate + 0.5))
        # a ramp (ramp_s, or three units if longer), then the longest unit
        self.s.unit_max = 0
        self.s.end_len = self.s.ramp_samples
        for i in range(n_steps):
            self.s.unit_max = max(self.s.unit_max, self.s.unit_len[i])
            self.s.end_len = max(self.s.end_len, self.s.ramp_min[i])
        self.s.end_len += self.s.unit_max
        # the session's own end; ending before it (auto-off): fade out first
        self.s.total = self.s.fade_from = self.s.fade_to = acc
        self.s.end_req = INT64_MAX      # (no end asked for yet)
        if total_samples < acc:
            self._ask_end(total_samples)
        st = &self.s.stage
        st.out_channels = stage.out_channels
        st.n_prog = n_ch
        for c in range(n_ch):
            st.pos[c], st.neg[c] = stage.routes[c]
            st.gain[c] = stage.gains_dac_per_ua[c]
        st.clamp = stage.clamp_dac
        routed = {r for pair in stage.routes for r in pair if r >= 0}
        self.s.unrouted = len(routed) < st.out_channels
        st.ac = stage.coupling == "ac"
        if st.ac:
            pair = stage.corner_hz if stage.pair_corner_hz is None else stage.pair_corner_hz
            if mw_sup_init(&st.sup, stage.corner_hz, pair, stage.corner_lo_hz, stage.corner_hi_hz, rate,
                           stage.limit_ua, stage.bleed_fraction) < 0:
                # (raises, naming them)
                supervisor_corners(stage.corner_hz, stage.corner_lo_hz, stage.corner_hi_hz, pair)
                raise ValueError(f"the supervisor cannot model corners {stage.corner_lo_hz!r} .. "
                                 f"{stage.corner_hi_hz!r} Hz around {stage.corner_hz!r}"
                                 + ("" if pair == stage.corner_hz else f" and {pair!r}"))
            st.sup.measure = stage.measure
            st.sup.between_ua = stage.between_ua
            st.sup.pre_ring = stage.pre_ring
            st.sup.moving = stage.corner_moves
            for c in range(n_ch):
                # a bridged pair's loop inverts its own nominal corner (StagePlan.pair_corner_hz)
                st.ch[c].nominal = st.sup.nominal_pair if stage.routes[c][1] >= 0 else st.sup.nominal
                st.ch[c].rail = stage.rail_ua[c]
                st.ch[c].gain = stage.gains_dac_per_ua[c]
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
                mw_aligned_free(self.s.slots[i].train.tile)
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
        free(self.s.rec.ring)

    cdef int _enter(self, str what) except -1:
        if not mw_enter(&self.s.busy):
            raise RuntimeError(f"SessionEngine.{what}: another thread (or the audio callback) is filling this "
                               f"engine; one engine is one stream -- build another with session.engine()")
        return 0

    def rewind(self):
        """Back to the start of the session (level at the target, no ramp).

        From mid-play, the pulse it was in is cut where it was (the drive
        steps to zero, as when a stream dies) and the engine plays
        :data:`REWIND_SILENCE` frames of silence first: a sound card's DAC
        rings after such a cut, and a pulse that started at once would add
        to that ringing (770 uA between the samples of a 500 uA stage,
        with 1-sample phases).  Through an AC coupling the stored charge
        then flows as after an abrupt end, and the engine bleeds it before
        the session starts again (a hold that lasts until the charge left is
        at most :data:`SUPERVISOR_RESTART` of the limit).
        Before anything has played, a rewind costs nothing.

        An end already set (``duration_s``, or a :meth:`stop_at` taken) is
        kept: the rewound session ends there too, or sooner if asked.  So is
        a lost contact (:meth:`pause` ``(False)`` lifts it)."""
        self._enter("rewind")
        self._rewind()
        mw_leave(&self.s.busy)

    cdef void _rewind(self):
        sess_take_end(&self.s)      # (an end asked for and not yet taken: taken where the session is)
        # ... and forgotten: an end asked after the rewind is measured from its start
        mw_publish_i64(&self.s.end_req, INT64_MAX)
        if self.s.pos > 0:
            self.s.owed = MW_REWIND_SILENCE      # (kept by a rewind before it is played)
            if not self.s.holding:               # mid-play (in a hold the drive is already a bleed's ramp)
                stage_cut(&self.s.stage)         # (holding the drive where the pulse was would ring)
        self.s.level = self.s.goal = min(max(self.s.target, 0.0), self.s.max_level)
        self.s.to_hold = 0
        sess_enter_step(&self.s, 0)
        self.s.step = 0
        self.s.pos = 0
        self.s.quiet = 0
        self.s.finished = 0
        self.s.holding = 0
        if not stage_drained(&self.s.stage):
            # the coupling is physical: what it stores outlives a rewind.  The
            # session starts again from silence once it has been bled and has
            # flowed (after a cut, at once)
            self.s.level = 0.0
            self.s.holding = 1
            self.s.held = 0
            self.s.quiet = INT64_MAX
        self.s.supervisor_stop = 0
        self.s.tight_mark = self.s.stage.sup.tight      # (what the last run counted is not this one's)
        self.s.stop_req = 0
        self.s.pause_req = 0

    def fill(self, out):
        """Write the next ``out.shape[0]`` frames of DAC samples into ``out``,
        a writable, C-contiguous float32 array of shape (frames,
        out_channels) (or any such buffer).  Anything else is refused,
        naming ``out``, what it is and what is allowed: a TypeError for an
        object that is not a buffer (a list, None), a ValueError for a
        buffer of another element type, shape or channel count, read-only
        or not C-contiguous."""
        # the buffer protocol directly, as Generator.fill: the error that names
        # out is built only when the buffer is refused (_fill_error)
        cdef Py_buffer view
        cdef Py_ssize_t n
        if _get_buffer(out, &view, FILL_FLAGS) == -1:
            PyErr_Clear()
            raise self._fill_error(out)
        try:
            if (view.ndim != 2 or view.itemsize != 4 or not _is_float32(view.format)
                    or view.shape[1] != self.s.stage.out_channels):
                raise self._fill_error(out)
            n = view.shape[0]
            if n > 0:
                self._enter("fill")
                with nogil:
                    sess_fill(&self.s, <float*>view.buf, n)
                mw_leave(&self.s.busy)
        finally:
            PyBuffer_Release(&view)

    def _fill_error(self, out):
        return _fill_error(out, "SessionEngine.fill", "out", f"(frames, {self.s.stage.out_channels})",
                           ": one column per channel its stage drives")

    def render(self, frames):
        """The next ``frames`` frames as a new float32 array, shape (frames, out_channels)."""
        frames = _count("frames", frames, 0, MAX_RENDER, "frames")
        out = _new_f32("frames", frames, (frames, self.s.stage.out_channels))
        self.fill(out)
        return out

    # ---- live control (plain stores; the audio thread ramps) ----
    def set_level(self, level):
        """Ask for a new intensity multiplier (clipped to what the stage
        allows); the audio thread reaches it by a linear ramp of ramp_s."""
        try:
            self.s.target = _checks.number("level", level, 0)
        except ValueError as e:
            raise ValueError(f"{e} (at most {self.s.max_level:g} takes effect)") from None

    def stop_at(self, frame):
        """End the session at ``frame`` (session samples, pauses excluded):
        the level ramps down over ramp_s to reach silence there, decided at
        that exact sample whatever the block sizes (as ``duration_s`` and
        the auto-off are).  An end closer than that ramp (or already
        passed) comes no sooner than the unit in progress can end, and the
        level falls as fast as it must to get there, at once if it must
        (no unit is cut); for a ramp of ramp_s from now, use :meth:`stop`.

        Safe while another thread (the audio callback) fills the engine:
        the end is a request that the filling thread takes at its next
        chunk's start, from where it is then; with nothing filling and no
        stream yet, it is taken at once (``state`` shows it)."""
        self._ask_end(_count("frame", frame, 0, INT64_MAX, "session frames"))

    cdef void _ask_end(self, int64_t end):
        """Ask for an end at ``end`` (sess_take_end): the soonest asked so
        far is published for the filling thread (two asks before it takes
        them: the sooner holds, as when each is taken at once), and taken
        here when no thread fills and no stream plays the engine (a
        callback finding the guard taken would play a block of silence:
        once a stream plays, only the audio thread takes it)."""
        mw_publish_i64(&self.s.end_req, min(end, self.s.end_req))   # (the control thread's: here and _rewind)
        self._ask(&self.s.end_seq)

    def attach_stream(self):
        """Mark the engine as played by a stream (the compiled callback):
        from then on an end asked for (:meth:`stop_at`) is taken by the
        audio thread only, and :meth:`configure_sense` is refused.  The
        callback marks it at its first call; :class:`microwave.audio.Player`
        marks it before its stream starts.  It cannot be undone."""
        self.s.streamed = 1

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
        it fell and for which corner, and the first sample past a bound
        (``over_at``, None if none: where a refusal's cause lies)."""
        st = &self.s.stage
        out = {"clamped": self._clamped(), "stopped": bool(self.s.supervisor_stop),
               "tight": st.sup.tight if st.ac else 0}
        if st.ac:
            kinds = {MW_SUP_CURRENT: "current", MW_SUP_STORED: "stored", MW_SUP_RAIL: "rail", MW_SUP_DRIVE: "drive"}
            out.update(worst=st.sup.worst, at=st.sup.worst_at, peak_current_ua=st.sup.peak[MW_SUP_CURRENT],
                       peak_stored_ua=st.sup.peak[MW_SUP_STORED], peak_drive_ua=st.sup.peak[MW_SUP_RAIL],
                       peak_pre_emphasis_ua=st.sup.peak_pre, what=kinds.get(st.sup.worst_what),
                       channel=st.sup.worst_channel, limit_ua=st.sup.limit,
                       over_at=st.sup.over_at if st.sup.over_at >= 0 else None,
                       over_what=kinds.get(st.sup.over_what), over_channel=st.sup.over_channel,
                       corner_hz=st.sup.f[st.sup.worst_corner] if st.sup.worst_corner >= 0 else None,
                       corner_moving=st.sup.worst_corner == -2, corner_moves=bool(st.sup.moving),
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

    @property
    def end_samples(self):
        """The longest a controlled end takes to reach silence, in samples:
        a ramp (ramp_s, or three units if longer), then the unit in
        progress, which finishes at its own gain (the bleed comes after)."""
        return self.s.end_len

    def pause(self, bint paused=True):
        """Ramp to silence and hold (``paused=True``), or play on
        (``False``) from where the programs stopped, by a ramp of ramp_s.

        Through an AC stage a hold bleeds what the coupling stores, and the
        session plays on once the charge left is at most
        :data:`SUPERVISOR_RESTART` of the limit (csrc/mw_supervisor.h); a
        fall to silence, once begun, goes on to that hold even if the pause
        is lifted on the way (a level that dips and comes back without a
        hold can leave the coupling's charge where the check did not look).
        The same holds for a level set to zero and raised again.

        ``paused=False`` also lifts a pause for a lost contact (``state``'s
        ``contact_lost``): the audio callback, which alone writes what it
        found, takes that at its next call (``state`` shows it lifted at
        once), and finds the contact lost again if it still is."""
        self.s.pause_req = paused       # (the control thread's alone: a lost contact is a pause of its own)
        if not paused and self.s.contact_lost:
            # (only a loss found already: asked while none is, the request would lift one found before
            # the callback takes it, which no resume was asked for)
            self._ask(&self.s.resume_seq)

    cdef void _ask(self, int64_t* seq):
        """Publish a request (``seq`` + 1) the audio thread takes: an end at a
        chunk's start (sess_take_end), a resume or a reset of the statistics
        at the callback's start (sess_take_asks).  Taken here when no stream
        plays the engine and no thread fills it."""
        mw_publish_i64(seq, seq[0] + 1)     # (only this thread writes the *_seq)
        if not self.s.streamed and mw_enter(&self.s.busy):
            sess_take_end(&self.s)
            sess_take_asks(&self.s)
            mw_leave(&self.s.busy)

    cdef bint _pending(self, int64_t* seq, int64_t* seen):
        """Whether a request is asked for and not yet taken (read before
        what it resets: seen taken, that is reset)."""
        return mw_acquire_i64(seq) != mw_acquire_i64(seen)

    def stop(self):
        """Ramp to silence, then finish."""
        self.s.stop_req = 1

    def configure_sense(self, int channel, int in_channels, double ua_per_unit, double min_ratio=0.1,
                        double min_ua=5.0, int64_t lost_after=4800, Py_ssize_t ring_frames=1 << 20,
                        double window_frames=24000):
        """Record input `channel` as current, and pause when, averaged over
        `window_frames`, less than `min_ratio` of the driven current flows
        for `lost_after` frames.  Before a stream plays the engine: the
        audio thread writes the ring this frees (RuntimeError after)."""
        if self.s.streamed:
            raise RuntimeError("SessionEngine.configure_sense: a stream plays this engine (its callback "
                               "writes the sense ring); configure the sense input before the stream starts")
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

    def enable_record(self, Py_ssize_t capacity=4096):
        """Account for what flows and keep it for :meth:`drain_record`.

        From the next sample on, the engine sums, in the audio thread, each
        program channel's electrode current as the stage models it (DC: the
        drive; AC: the declared corner's high-pass of the held drive), per
        step and per :data:`RECORD_FLUSH_S` of stream, into a lock-free ring
        of ``capacity`` entries (about ``capacity`` / 10 s of stream that a
        writer may fall behind without loss).  Before the stream starts:
        raises RuntimeError while the engine is being filled."""
        if capacity < 2:
            raise ValueError(f"capacity={capacity} is not allowed: a ring holds >= 2 entries")
        cdef mw_rec_entry* ring = <mw_rec_entry*>calloc(capacity, sizeof(mw_rec_entry))
        cdef int c
        cdef mw_stage* st = &self.s.stage
        cdef mw_record* r = &self.s.rec
        if ring == NULL:
            raise MemoryError()
        self._enter("enable_record")
        free(r.ring)
        memset(r, 0, sizeof(mw_record))
        r.ring = ring
        r.cap = capacity
        r.flush_frames = max(1, <int64_t>(MW_REC_FLUSH_S * self.rate + 0.5))
        r.inv_rate = 1.0 / self.rate
        r.n_ch = self.s.n_ch
        for c in range(self.s.n_ch):
            # what the coupling stores already (it is physical: it outlives a rewind)
            r.q[c] = st.ch[c].q[st.ch[c].nominal] if st.ac else 0.0
        r.on = True
        mw_leave(&self.s.busy)

    def drain_record(self, buf):
        """Move up to ``len(buf)`` entries of the delivered record, oldest
        first, into ``buf`` (a 1-D array of :data:`RECORD_DTYPE`); how many.

        The consumer's side of the ring: call it from one thread (a
        writer, never the audio thread), while the stream plays and after.
        Charges are in uC, peaks in uA, of the current that flowed."""
        if (not isinstance(buf, np.ndarray) or buf.dtype != RECORD_DTYPE or buf.ndim != 1
                or not buf.flags.c_contiguous or not buf.flags.writeable):
            raise TypeError(f"buf must be a writable, contiguous 1-D numpy array of RECORD_DTYPE, got "
                            f"{type(buf).__name__}"
                            + (f" of {buf.dtype} with ndim={buf.ndim}" if isinstance(buf, np.ndarray) else ""))
        if not self.s.rec.on or len(buf) == 0:
            return 0
        return rec_pop(&self.s.rec, <mw_rec_entry*><size_t>buf.ctypes.data, len(buf))

    def flush_record(self):
        """The stream has ended: add the current an AC coupling's stored
        charge still drives through the electrodes once the DAC is silent
        (its whole free decay), and push the entry the audio thread was
        summing (raises RuntimeError while the engine is being filled);
        whether the ring had room for it.  Call it once, at the end."""
        if not self.s.rec.on:
            return True
        self._enter("flush_record")
        rec_finish(&self.s.rec, &self.s.stage)
        ok = rec_push(&self.s.rec)
        mw_leave(&self.s.busy)
        return bool(ok)

    def set_tail(self, frames):
        """Frames of silence streamed after the end before the stream completes."""
        self.s.tail_frames = _count("frames", frames, 0, INT64_MAX, "frames")
    def recorded(self):
        """The sense current recorded so far (uA), up to the ring's length."""
        n = min(self.s.ring_write, self.s.ring_len)
        start = self.s.ring_write - n
        ring = np.asarray(<float[:self.s.ring_len]>self.s.ring)
        idx = (np.arange(start, self.s.ring_write) % self.s.ring_len)
        return ring[idx].copy()

    @property
    def state(self):
        """A snapshot of position, level and real-time statistics (a resume
        or a reset of the statistics the callback has not yet taken shown
        as taken)."""
        # (each request looked at before what it resets, once: the callback may take it meanwhile)
        cdef bint resuming = self._pending(&self.s.resume_seq, &self.s.resume_seen)
        cdef bint fresh = self._pending(&self.s.stats_seq, &self.s.stats_seen)
        cdef bint lost = self.s.contact_lost and not resuming
        cdef uint64_t callbacks = 0 if fresh else self.s.callbacks
        cdef double cb_sum = 0.0 if fresh else self.s.cb_seconds_sum
        return {
            "position": self.s.pos, "step": self.s.step, "channels": self.s.n_ch, "level": self.s.level, "target": self.s.target,
            "finished": bool(self.s.finished), "paused": bool(self.s.pause_req or lost), "total": self.s.total,
            "callbacks": callbacks, "underflows": 0 if fresh else self.s.underflows,
            "overflows": 0 if fresh else self.s.overflows,
            "input_overflows": 0 if fresh else self.s.input_overflows, "frames": 0 if fresh else self.s.frames_out,
            "last_underflow_frame": self.s.last_underflow_frame,
            "callback_max_s": 0.0 if fresh else self.s.cb_seconds_max,
            "callback_mean_s": cb_sum / callbacks if callbacks else 0.0,
            "contact_lost": bool(lost), "drive_ua": self.s.drive_mean_ua, "sense_ua": self.s.sense_mean_ua,
            "drive_total_ua": self.s.drive_total_ua, "sense_total_ua": self.s.sense_total_ua,
            "busy_blocks": self.s.busy_blocks, "supervisor_stop": bool(self.s.supervisor_stop),
            "clamped": self._clamped(), "first_dac_time": self.s.first_dac_time,
            "stop_requested": bool(self.s.stop_req), "record_merged": self.s.rec.merged,
        }

    def reset_stats(self):
        """Start the real-time statistics afresh (counts and callback times):
        zeroed by the audio callback, which alone counts them, at its next
        call (``state`` shows them zeroed at once)."""
        self._ask(&self.s.stats_seq)

    def address(self):
        """Address of the C session struct: the callback's user data."""
        return <size_t>&self.s

    @staticmethod
    def callback_address():
        """Address of the compiled PortAudio callback."""
        return <size_t>&mw_pa_callback
