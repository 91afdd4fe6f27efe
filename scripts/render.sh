#!/usr/bin/env bash
# The main job: render the default full-face session to out/ (WAV + PNG).
# Needs no sound card.  Installs what it needs itself.
source "$(dirname "$0")/_env.sh" "files,plot" gcc python3-dev
cd "$ROOT"
microwave info full-face
microwave render full-face -o out/full-face.wav
microwave plot full-face -o out/full-face.png
