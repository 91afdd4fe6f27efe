"""The examples a new user copies from must run as they are."""
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_and_writes_its_wav(script, tmp_path):
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    wav = tmp_path / "out" / f"{script.stem}.wav"
    info = sf.info(wav)
    assert info.samplerate == 48_000 and info.frames > 0
    data, _ = sf.read(wav)
    assert abs(data).max() == pytest.approx(1.0, abs=1e-3)   # full scale = the train's peak


def test_there_are_the_three_examples_the_readme_promises():
    assert {p.stem for p in EXAMPLES} >= {"biphasic_train", "infuse_pattern", "ramped_start"}


def test_the_readme_example_runs_and_says_what_it_prints(capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    dc, charge = map(float, capsys.readouterr().out.split())
    # 80 uA x 4 ms x 100 Hz x (3 s - 1 s) / 4 s, and 64 uC over the 4 s cycle
    assert dc == 16.0 and charge == 64.0
