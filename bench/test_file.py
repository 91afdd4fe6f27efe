"""Rendering a session to WAV (microwave.files.render_to_file) against
writing the same number of zero frames with the same file library, format
and block size: how much the synthesis adds to the cost of the file."""
import numpy as np
import pytest

from families import RATE, mixed_session, stage
from mwbench import QUICK, WAV_SECONDS, blocks, record

ROUNDS = 1 if QUICK else 5
BLOCK = 65536        # microwave.files.BLOCK_FRAMES


@pytest.fixture(scope="module")
def session():
    return mixed_session(WAV_SECONDS)


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "bench.wav"
    yield p
    p.unlink(missing_ok=True)


def _frames(session):
    return session.frames(RATE)


def test_wav_zeros(benchmark, session, path):
    import soundfile as sf
    total = _frames(session)
    zeros = np.zeros((BLOCK, 2), dtype=np.float32)

    ns = blocks(BLOCK, total)

    def run():
        with sf.SoundFile(path, "w", samplerate=RATE, channels=2, subtype="FLOAT", format="WAV") as f:
            for n in ns:
                f.write(zeros[:n])
    benchmark.group = "wav"
    benchmark.pedantic(run, setup=lambda: path.unlink(missing_ok=True), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    assert path.stat().st_size >= total * 8
    record(benchmark, "wav/zeros", per=total)


def test_wav_session(benchmark, session, path):
    from microwave.files import render_to_file
    total = _frames(session)

    def run():
        render_to_file(session, path, rate=RATE, stage=stage())
    benchmark.group = "wav"
    benchmark.pedantic(run, setup=lambda: path.unlink(missing_ok=True), rounds=ROUNDS, iterations=1, warmup_rounds=0)
    assert path.stat().st_size >= total * 8
    record(benchmark, "wav/session", per=total)


def test_wav_engine_only(benchmark, session):
    """The same engine and blocks as render_to_file, without the file."""
    total = _frames(session)
    buf = np.empty((BLOCK, 2), dtype=np.float32)

    ns = blocks(BLOCK, total)

    def run():
        eng = session.engine(RATE, stage())
        for n in ns:
            eng.fill(buf[:n])
    benchmark.group = "wav"
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    record(benchmark, "wav/engine", per=total)
