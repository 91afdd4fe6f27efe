#!/usr/bin/env bash
# The whole test suite, including the real audio loopback tests: the tests
# start and stop their own private PulseAudio server (null sink, recorded
# from its monitor; tests/audio_server.py).  Installs what it needs itself
# (system packages, a venv, the package).  Extra arguments go to pytest.
# tmux: the acknowledgement's terminal test (tests/test_history.py).
# gcc-mingw-w64-x86-64-win32: the Windows cross compiler of tests/test_portability.py (just the
# x86-64 C compiler, ~55 MB to fetch, ~25 s once per machine; the mingw-w64 metapackage is 250 MB)
source "$(dirname "$0")/_env.sh" "test" gcc python3-dev gcc-mingw-w64-x86-64-win32 tmux
cd "$ROOT"
bash scripts/audio-server.sh install
# the installed package is what is tested (src/ is not on the path)
python -m pytest -p no:cacheprovider tests "$@"
