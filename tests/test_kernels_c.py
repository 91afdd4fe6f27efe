"""The C kernels (csrc/) tested at the C level, where that is cheap: a small
driver is compiled with the system C compiler against the headers and the
unit sources, fed random cases on stdin, and its answers are checked here
against exact arithmetic (fractions.Fraction) and plain Python models.

Also: the limits of csrc/mw_limits.h are the ones Python uses, and a plan
that does not fit them is refused before any C array is written."""
from __future__ import annotations

import dataclasses
import random
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import microwave as mw
from microwave import _core, envelopes, patterns
from microwave.plans import EnvelopePlan, PatternPlan
from forced import forced

ROOT = Path(__file__).resolve().parent.parent
CSRC = ROOT / "csrc"
CC = shutil.which("cc") or shutil.which("gcc")

DRIVER = r"""
#include <stdio.h>
#include <string.h>
#include "mw_rational.h"
#include "mw_template.h"
#include "mw_pattern.h"
#include "mw_envelope.h"

/* one command a line; every answer on one line, doubles as %.17g */
int main(void)
{
    char cmd[8];
    while (scanf("%7s", cmd) == 1) {
        if (!strcmp(cmd, "add")) {          /* add w r w r den: a += b */
            mw_rat a, b;
            scanf("%lld %lld %lld %lld %lld", (long long *)&a.whole, (long long *)&a.rem,
                  (long long *)&b.whole, (long long *)&b.rem, (long long *)&a.den);
            b.den = a.den;
            rat_add(&a, &b);
            printf("%lld %lld\n", (long long)a.whole, (long long)a.rem);
        } else if (!strcmp(cmd, "ge")) {    /* ge w r den w r den: a >= b */
            mw_rat a, b;
            scanf("%lld %lld %lld %lld %lld %lld", (long long *)&a.whole, (long long *)&a.rem, (long long *)&a.den,
                  (long long *)&b.whole, (long long *)&b.rem, (long long *)&b.den);
            printf("%d\n", rat_ge(&a, &b));
        } else if (!strcmp(cmd, "cum")) {   /* cum nbp tau.. v.. nx x..: tpl_cum at each x */
            mw_template t;
            int i, nx;
            double x;
            memset(&t, 0, sizeof t);
            scanf("%d", &t.nbp);
            for (i = 0; i < t.nbp; i++) scanf("%lf", &t.tau[i]);
            for (i = 0; i < t.nbp; i++) scanf("%lf", &t.v[i]);
            tpl_finish(&t);
            scanf("%d", &nx);
            for (i = 0; i < nx; i++) {
                scanf("%lf", &x);
                printf("%.17g ", tpl_cum(&t, x));
            }
            printf("\n");
        } else if (!strcmp(cmd, "rnd")) {   /* rnd nbp tau.. v.. f a L: tpl_render's samples */
            mw_template t;
            int i;
            long long L;
            double f, a;
            float buf[4096];
            memset(&t, 0, sizeof t);
            scanf("%d", &t.nbp);
            for (i = 0; i < t.nbp; i++) scanf("%lf", &t.tau[i]);
            for (i = 0; i < t.nbp; i++) scanf("%lf", &t.v[i]);
            tpl_finish(&t);
            scanf("%lf %lf %lld", &f, &a, &L);
            tpl_render(&t, f, a, buf, L);
            for (i = 0; i < L; i++) printf("%.9g ", buf[i]);
            printf("\n");
        } else if (!strcmp(cmd, "pat")) {   /* pat by_time n kind.. len.. k onset..: the signs */
            mw_pattern p;
            int i, k;
            long long onset;
            memset(&p, 0, sizeof p);
            scanf("%d %d", &p.by_time, &p.n);
            for (i = 0; i < p.n; i++) scanf("%d", &p.kind[i]);
            for (i = 0; i < p.n; i++) scanf("%lld", (long long *)&p.length[i]);
            pattern_reset(&p);
            scanf("%d", &k);
            for (i = 0; i < k; i++) {
                scanf("%lld", &onset);
                printf("%d ", pattern_sign(&p, onset));
            }
            printf("\n");
        } else if (!strcmp(cmd, "env")) {   /* env loop after n (len shape a b).. N: levels, and env_apply on ones */
            mw_envelope e, e2;
            int i, N;
            float one;
            memset(&e, 0, sizeof e);
            scanf("%d %lf %d", &e.loop, &e.after, &e.n);
            for (i = 0; i < e.n; i++)
                scanf("%lld %d %lf %lf", (long long *)&e.length[i], &e.shape[i], &e.a[i], &e.b[i]);
            scanf("%d", &N);
            env_reset(&e);
            e2 = e;
            for (i = 0; i < N; i++) {
                one = 1.0f;
                env_apply(&e2, &one, 1);
                printf("%.9g %.9g ", env_level(&e), one);
                env_skip(&e, 1);
            }
            printf("\n");
        }
        fflush(stdout);
    }
    return 0;
}
"""


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """Run the driver on a list of command lines; one answer line each."""
    if CC is None:
        pytest.skip("no C compiler")
    d = tmp_path_factory.mktemp("kernels_c")
    (d / "driver.c").write_text(DRIVER)
    exe = d / "driver"
    # C99 as the kernels are written; the units the driver calls, as the build compiles them
    cmd = [CC, "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-O2", "-Wall", "-Werror", f"-I{CSRC}",
           str(d / "driver.c"), str(CSRC / "mw_template.c"), str(CSRC / "mw_envelope.c"), "-lm", "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stderr}"

    def run(lines):
        out = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True, text=True, check=True)
        return out.stdout.splitlines()
    return run


def test_every_unit_compiles_alone_as_c99(tmp_path):
    """Each .c unit compiles on its own, as strict C99 with every warning an error."""
    if CC is None:
        pytest.skip("no C compiler")
    for src in sorted(CSRC.glob("*.c")):
        cmd = [CC, "-std=c99", "-D_POSIX_C_SOURCE=200809L", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter",
               "-Werror", f"-I{CSRC}", "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        assert r.returncode == 0, f"{src.name}:\n{r.stderr}"


def test_rationals_are_exact(kernels):
    rng = random.Random(1)
    cases, lines = [], []
    for _ in range(2000):
        den = rng.choice([1, 2, 3, 7, 48, 1001, 2**31 - 1, rng.randrange(1, 2**31)])
        aw, bw = rng.randrange(0, 2**40), rng.randrange(0, 2**20)
        ar, br = rng.randrange(den), rng.randrange(den)
        cases.append(("add", aw, ar, bw, br, den))
        lines.append(f"add {aw} {ar} {bw} {br} {den}")
        d2 = rng.choice([den, rng.randrange(1, 2**31)])
        w2 = aw + rng.choice([-1, 0, 0, 0, 1])
        r2 = rng.choice([rng.randrange(d2), ar * d2 // den])   # often equal or nearly
        w2 = max(w2, 0)
        cases.append(("ge", aw, ar, den, w2, r2, d2))
        lines.append(f"ge {aw} {ar} {den} {w2} {r2} {d2}")
    for case, got in zip(cases, kernels(lines)):
        if case[0] == "add":
            _, aw, ar, bw, br, den = case
            s = Fraction(aw) + Fraction(ar, den) + Fraction(bw) + Fraction(br, den)
            w, r = map(int, got.split())
            assert 0 <= r < den and Fraction(w) + Fraction(r, den) == s, case
        else:
            _, aw, ar, ad, bw, br, bd = case
            assert int(got) == int(Fraction(aw) + Fraction(ar, ad) >= Fraction(bw) + Fraction(br, bd)), case


def _random_template(rng):
    """Breakpoints (some vertical edges) and values, zero at both ends."""
    n = rng.randrange(2, 17)
    tau, t = [0.0], 0.0
    for _ in range(n - 1):
        t += rng.choice([0.0, rng.uniform(0.01, 3.0), float(rng.randrange(1, 5))])
        tau.append(t)
    v = [0.0] + [rng.choice([0.0, rng.uniform(-300, 300)]) for _ in range(n - 2)] + [0.0]
    return tau, v


def _exact_cum(tau, v, x):
    """The integral of the piecewise-linear pulse from 0 to x, in fractions."""
    tau = [Fraction(t) for t in tau]
    v = [Fraction(y) for y in v]
    x = Fraction(x)
    s = Fraction(0)
    for i in range(len(tau) - 1):
        a, b = tau[i], min(tau[i + 1], x)
        if b <= a:
            continue
        slope = (v[i + 1] - v[i]) / (tau[i + 1] - tau[i])
        s += (b - a) * (v[i] + slope * (b - a) / 2)
    return s


def _fmt(tau, v):
    return f"{len(tau)} " + " ".join(repr(t) for t in tau) + " " + " ".join(repr(y) for y in v)


def test_tpl_cum_integrates_the_pulse(kernels):
    rng = random.Random(2)
    cases, lines = [], []
    for _ in range(300):
        tau, v = _random_template(rng)
        xs = [rng.uniform(-1, tau[-1] + 1) for _ in range(8)] + [0.0, tau[-1]] + list(tau)
        cases.append((tau, v, xs))
        lines.append(f"cum {_fmt(tau, v)} {len(xs)} " + " ".join(repr(x) for x in xs))
    for (tau, v, xs), got in zip(cases, kernels(lines)):
        total = float(_exact_cum(tau, v, tau[-1]))
        peak = max(abs(y) for y in v) or 1.0
        for x, g in zip(xs, map(float, got.split())):
            want = float(_exact_cum(tau, v, x)) if x > 0 else 0.0
            assert abs(g - want) <= 1e-9 * peak * max(1.0, tau[-1]), (tau, v, x, g, want)
            if x >= tau[-1]:
                assert g == pytest.approx(total, abs=1e-9 * peak * max(1.0, tau[-1]))


def test_tpl_render_is_the_box_filter_of_the_pulse(kernels):
    """Every rendered sample is the pulse's integral over it (float32), so the
    samples add up to the pulse's charge wherever its onset falls."""
    rng = random.Random(3)
    cases, lines = [], []
    for _ in range(200):
        tau, v = _random_template(rng)
        f, a = rng.choice([0.0, 0.5, rng.random()]), rng.choice([1.0, -1.0, rng.uniform(-2, 2)])
        L = int(np.ceil(f + tau[-1])) + 2
        cases.append((tau, v, f, a, L))
        lines.append(f"rnd {_fmt(tau, v)} {f!r} {a!r} {L}")
    for (tau, v, f, a, L), got in zip(cases, kernels(lines)):
        y = np.array(got.split(), dtype=np.float64)
        assert len(y) == L
        peak = max(abs(t) for t in v) * abs(a) or 1.0
        for j in range(L):
            want = a * float(_exact_cum(tau, v, j + 1 - f) - _exact_cum(tau, v, max(j - f, 0)))
            assert abs(y[j] - want) <= 2e-7 * peak + 1e-9, (tau, v, f, a, j, y[j], want)


def _pattern_ref(by_time, kinds, lengths, onsets):
    """The signs a polarity pattern gives pulses at these onsets (a model of
    csrc/mw_pattern.h's rules, state by state)."""
    out, idx, count, alt = [], 0, 0, 1
    end = lengths[0]
    n = len(kinds)
    for onset in onsets:
        if by_time:
            while onset >= end:
                idx, count = (idx + 1) % n, 0
                alt = 1 if n > 1 else alt
                end += lengths[idx]
        else:
            while count >= lengths[idx]:
                idx, count = (idx + 1) % n, 0
                alt = 1 if n > 1 else alt
            count += 1
        k = kinds[idx]
        if k == patterns.ALTERNATE:
            out.append(alt)
            alt = -alt
        else:
            out.append(k)
    return out


def test_pattern_sign_follows_the_states(kernels):
    rng = random.Random(4)
    kinds_all = [patterns.POSITIVE, patterns.NEGATIVE, patterns.ALTERNATE, patterns.REST]
    cases, lines = [], []
    for _ in range(300):
        by_time = rng.random() < 0.5
        n = rng.randrange(1, 7)
        kinds = [rng.choice(kinds_all) for _ in range(n)]
        lengths = [rng.randrange(1, 12) * (100 if by_time else 1) for _ in range(n)]
        onsets, t = [], rng.randrange(0, 50)
        for _ in range(200):
            onsets.append(t)
            t += rng.randrange(1, 60)
        cases.append((by_time, kinds, lengths, onsets))
        lines.append(f"pat {int(by_time)} {n} " + " ".join(map(str, kinds)) + " " + " ".join(map(str, lengths))
                     + f" {len(onsets)} " + " ".join(map(str, onsets)))
    for (by_time, kinds, lengths, onsets), got in zip(cases, kernels(lines)):
        assert list(map(int, got.split())) == _pattern_ref(by_time, kinds, lengths, onsets)


def test_envelope_levels_at_segment_edges(kernels):
    """env_level is what env_apply scales a 1.0 by, bit for bit; a segment
    starts exactly at its start level; a hold holds; after a non-looping
    envelope the level is `after`, and a looped one starts again exactly."""
    S = envelopes.SHAPES
    segs = [(5, S["linear"], 0.0, 1.0), (3, S["hold"], 1.0, 1.0), (7, S["cosine"], 1.0, 0.25),
            (4, S["exp"], 0.25, 0.75), (1, S["linear"], 0.75, 0.5)]
    total = sum(s[0] for s in segs)
    for loop, after in ((0, 0.125), (1, 0.0)):
        line = f"env {loop} {after!r} {len(segs)} " + " ".join(f"{L} {sh} {a!r} {b!r}" for L, sh, a, b in segs)
        got = np.array(kernels([line + f" {2 * total + 3}"])[0].split(), dtype=np.float32).reshape(-1, 2)
        level, applied = got[:, 0], got[:, 1]
        np.testing.assert_array_equal(level, applied)
        start = 0
        for L, sh, a, b in segs:
            assert level[start] == np.float32(a)                      # exactly the start level
            if sh == S["hold"]:
                assert (level[start:start + L] == np.float32(a)).all()
            else:
                # the last sample is one step short of the end level, within the shapes' error
                assert abs(level[start + L - 1] - b) <= abs(b - a) + 1e-6
            start += L
        if loop:
            np.testing.assert_array_equal(level[total:2 * total], level[:total])
        else:
            assert (level[total:] == np.float32(after)).all()


# ---- the limits: one source, checked at construction --------------------------------
def test_python_uses_the_cores_limits():
    assert patterns.MAX_STATES == _core.MAX_STATES == 64
    assert envelopes.MAX_SEGMENTS == _core.MAX_SEGMENTS == 32
    assert envelopes.SHAPES is _core.SHAPES
    assert (patterns.REST, patterns.POSITIVE, patterns.NEGATIVE, patterns.ALTERNATE) == tuple(
        _core.POLARITIES[k] for k in ("rest", "positive", "negative", "alternate"))
    assert _core.MAX_BREAKPOINTS == 16


def _plan():
    return mw.Biphasic(freq_hz=1000, amp_ua=200, phase_us=250).plan(48_000)


# (the plans refuse these themselves, tests/test_plans.py; forced past them, the generator still does)
def test_a_template_with_too_many_breakpoints_is_refused():
    plan = _plan()
    n = _core.MAX_BREAKPOINTS + 1
    tpl = forced(plan.template, taus_samples=tuple(float(i) for i in range(n)), values_ua=(0.0,) * n)
    with pytest.raises(ValueError, match="MAX_BREAKPOINTS=16"):
        _core.Generator(forced(plan, template=tpl))
    tpl = forced(plan.template, taus_samples=(), values_ua=())
    with pytest.raises(ValueError, match="breakpoint"):
        _core.Generator(forced(plan, template=tpl))


def test_a_pattern_with_too_many_states_is_refused():
    plan = _plan()
    n = _core.MAX_STATES + 1
    pattern = forced(PatternPlan(False, (1,), (1,)), kinds=(1,) * n, lengths=(1,) * n)
    with pytest.raises(ValueError, match="MAX_STATES=64"):
        _core.Generator(forced(plan, pattern=pattern))


def _envelope(n):
    return EnvelopePlan((1,) * n, (0,) * n, (1.0,) * n, (1.0,) * n, False, 1.0)


@pytest.mark.parametrize("key", ["envelope", "gate"])
def test_an_envelope_with_too_many_segments_is_refused(key):
    plan = _plan()
    n = _core.MAX_SEGMENTS + 1
    env = forced(_envelope(1), lengths_samples=(1,) * n, shapes=(0,) * n, from_levels=(1.0,) * n,
                 to_levels=(1.0,) * n)
    with pytest.raises(ValueError, match="MAX_SEGMENTS=32"):
        _core.Generator(forced(plan, **{key: env}))


def test_plans_at_the_limits_are_accepted():
    n = _core.MAX_STATES
    plan = dataclasses.replace(_plan(), pattern=PatternPlan(False, (1,) * n, (1,) * n),
                               envelope=_envelope(_core.MAX_SEGMENTS))
    np.testing.assert_array_equal(_core.Generator(plan).render(480), _core.Generator(_plan()).render(480))
