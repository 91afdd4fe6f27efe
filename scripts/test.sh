#!/usr/bin/env bash
# The whole test suite, including the real audio loopback tests against a
# private PulseAudio server (null sink, recorded from its monitor).
# Installs what it needs itself (system packages, a venv, the package).
# Extra arguments go to pytest.
source "$(dirname "$0")/_env.sh" "test" gcc python3-dev
cd "$ROOT"
bash scripts/audio-server.sh install
export MICROWAVE_AUDIO_DIR=${MICROWAVE_AUDIO_DIR:-$(mktemp -d)}
eval "$(bash scripts/audio-server.sh start)"
trap 'bash scripts/audio-server.sh stop >/dev/null 2>&1 || true' EXIT
# run from a scratch dir so that `import microwave` is the installed package
python -m pytest -p no:cacheprovider "$ROOT/tests" "$@"
