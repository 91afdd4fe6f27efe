#!/usr/bin/env bash
# audio-server.sh -- a private, headless PulseAudio server with a null sink,
# so that real-audio tests can play through PortAudio (ALSA host API, `pulse`
# ALSA plugin) and record what was played from the null sink's monitor.
#
# Usage: scripts/audio-server.sh install|start|stop|env|status
#
#   install  apt-installs whatever of libportaudio2, pulseaudio,
#            pulseaudio-utils, libasound2-plugins, alsa-utils is missing
#            (apt-get update only if something is missing).
#   start    starts the server (idempotent) and prints `export VAR=...` lines
#            for the clients (eval "$(scripts/audio-server.sh start)").
#   env      prints the same lines for a running server (exit 1 if none).
#   stop     kills exactly this server and removes everything start made
#            (idempotent).
#   status   exit 0 if the server answers, 1 otherwise.
#
# Where: $MICROWAVE_AUDIO_DIR (created if missing). If unset, `start` makes a
# mktemp dir and remembers it in ${TMPDIR:-/tmp}/microwave-audio.$UID.last so
# that a later `env`/`stop` without the variable finds it.
#
# Works as root without a user session (no D-Bus, no XDG session, no TTY):
# the server runs in per-user mode (--system=false) with HOME, XDG_* and
# PULSE_* pointing into the private directory; it loads only an explicit
# script (-n --file=...), so no hardware, D-Bus or X11 modules are touched.
#
# Devices (PortAudio / ALSA names), from a self-contained ALSA config
# ($DIR/asound.conf, exported as ALSA_CONFIG_PATH; the system alsa.conf and
# its hooks are not read):
#   microwave_play     -> sink microwave_null (float32le, $RATE Hz, stereo)
#   microwave_ac       -> sink microwave_ac: a LADSPA one-pole high-pass
#                         ($MICROWAVE_AUDIO_AC_CORNER_HZ, 5 Hz) in front of
#                         microwave_null -- an AC-coupled card's stand-in
#   microwave_ac_lo, microwave_ac_hi -> the same set to 3 Hz and 15 Hz
#   microwave_ac_series -> a 10 Hz high-pass, then microwave_ac: two in series
#   microwave_half     -> a gain of exactly 0.5 (LADSPA amp_mono), no filter
#   microwave_monitor  -> source microwave_null.monitor (what was played)
#   default, pulse     -> the same server (playback: the sink, capture: monitor)
# Clients need the exported ALSA_CONFIG_PATH (PortAudio/ALSA) and PULSE_SERVER
# (+ PULSE_COOKIE/PULSE_CLIENTCONFIG/PULSE_RUNTIME_PATH so that libpulse
# touches nothing in $HOME) before PortAudio is initialised.
#
# Tunables: MICROWAVE_AUDIO_RATE (48000), MICROWAVE_AUDIO_KEEPALIVE_MS (10,
# latency of the silent keep-alive input, see server.pa below),
# MICROWAVE_AUDIO_REALTIME (no; yes gives the server threads SCHED_RR).
set -euo pipefail

SINK=microwave_null
RATE=${MICROWAVE_AUDIO_RATE:-48000}
CHANNELS=2
KEEPALIVE_MS=${MICROWAVE_AUDIO_KEEPALIVE_MS:-10}
REALTIME=${MICROWAVE_AUDIO_REALTIME:-no}   # yes: SCHED_RR for the server threads (root)
AC_CORNER_HZ=${MICROWAVE_AUDIO_AC_CORNER_HZ:-5}   # the stand-in AC-coupled card's high-pass setting
AC_LO_HZ=3        # calibration targets: hpf settings of microwave_ac_lo, microwave_ac_hi,
AC_HI_HZ=15       # and of the first of the two in series in microwave_ac_series
AC_SERIES_HZ=10   # (then microwave_ac's $AC_CORNER_HZ)
PACKAGES=(libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins alsa-utils ladspa-sdk)
LAST_FILE="${TMPDIR:-/tmp}/microwave-audio.$(id -u).last"

die() { echo "audio-server.sh: $*" >&2; exit 1; }
log() { echo "audio-server.sh: $*" >&2; }

# ---------------------------------------------------------------- install
cmd_install() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "all present: ${PACKAGES[*]}"
        return 0
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "not root and no sudo; install: ${missing[*]}"
        sudo=(sudo -n)
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -q </dev/null >&2
    "${sudo[@]}" apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" </dev/null >&2
}

# ---------------------------------------------------------------- helpers
resolve_dir() {   # $1 = "create" to make a new dir when unset
    if [ -n "${MICROWAVE_AUDIO_DIR:-}" ]; then
        DIR=$MICROWAVE_AUDIO_DIR
    elif [ -s "$LAST_FILE" ] && [ -d "$(cat "$LAST_FILE")" ]; then
        DIR=$(cat "$LAST_FILE")
    elif [ "${1:-}" = create ]; then
        DIR=$(mktemp -d "${TMPDIR:-/tmp}/microwave-audio.XXXXXX")
        echo "$DIR" > "$LAST_FILE"
    else
        DIR=
        return 1
    fi
    case $DIR in /*) ;; *) DIR="$PWD/$DIR" ;; esac
    SOCK="$DIR/run/pulse/native"
    PIDFILE="$DIR/pulseaudio.pid"
    ASOUND="$DIR/asound.conf"
}

# pid of our server if it is alive (and really is our pulseaudio), else empty
server_pid() {
    [ -n "${DIR:-}" ] && [ -s "$PIDFILE" ] || return 1
    local pid; pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "--file=$DIR/server.pa" || return 1
    echo "$pid"
}

server_answers() {
    PULSE_SERVER="unix:$SOCK" PULSE_CLIENTCONFIG="$DIR/client.conf" \
        PULSE_COOKIE="$DIR/home/.config/pulse/cookie" PULSE_RUNTIME_PATH="$DIR/run/pulse" \
        timeout 5 pactl info >/dev/null 2>&1
}

print_env() {
    cat <<EOF
export MICROWAVE_AUDIO_DIR='$DIR'
export PULSE_SERVER='unix:$SOCK'
export PULSE_RUNTIME_PATH='$DIR/run/pulse'
export PULSE_CLIENTCONFIG='$DIR/client.conf'
export PULSE_COOKIE='$DIR/home/.config/pulse/cookie'
export PULSE_SINK='$SINK'
export PULSE_SOURCE='$SINK.monitor'
export ALSA_CONFIG_PATH='$ASOUND'
export MICROWAVE_AUDIO_RATE='$RATE'
export MICROWAVE_AUDIO_PLAY_DEVICE='microwave_play'
export MICROWAVE_AUDIO_AC_DEVICE='microwave_ac'
export MICROWAVE_AUDIO_AC_CORNER_HZ='$AC_CORNER_HZ'
export MICROWAVE_AUDIO_RECORD_DEVICE='microwave_monitor'
export MICROWAVE_AUDIO_AC_LO_HZ='$AC_LO_HZ'
export MICROWAVE_AUDIO_AC_HI_HZ='$AC_HI_HZ'
export MICROWAVE_AUDIO_AC_SERIES_HZ='$AC_SERIES_HZ'
EOF
}

write_configs() {
    mkdir -p "$DIR/run/pulse" "$DIR/home/.config/pulse" "$DIR/state"
    chmod 700 "$DIR" "$DIR/run" "$DIR/run/pulse"
    cat > "$DIR/server.pa" <<EOF
# microwave private PulseAudio server (loaded with -n, nothing else)
load-module module-null-sink sink_name=$SINK format=float32le rate=$RATE channels=$CHANNELS channel_map=front-left,front-right sink_properties=device.description=microwave_null
# An idle null sink renders up to 2 s ahead (its maximum latency), so a new
# stream would stall ~2 s before its data is consumed. A permanent, silent,
# low-latency input keeps the sink's latency small: a null source looped into
# the sink (zeros mixed into float32 at unity volume change nothing).
load-module module-null-source source_name=microwave_silence format=float32le rate=$RATE channels=$CHANNELS channel_map=front-left,front-right
load-module module-loopback source=microwave_silence sink=$SINK latency_msec=$KEEPALIVE_MS source_dont_move=true sink_dont_move=true remix=false
# An AC-coupled card's stand-in: a one-pole digital high-pass (LADSPA 'hpf'
# from ladspa-sdk's filter.so, one instance per channel) in front of the
# null sink; what plays on microwave_ac reaches the monitor high-passed.
load-module module-ladspa-sink sink_name=microwave_ac sink_master=$SINK plugin=filter label=hpf control=$AC_CORNER_HZ sink_properties=device.description=microwave_ac
# Calibration targets (microwave calibrate, tests/test_calibrate.py): more
# one-pole high-passes at known settings, two of them in series (a response
# no one-pole model explains), and a known gain (LADSPA amp_mono, x0.5).
load-module module-ladspa-sink sink_name=microwave_ac_lo sink_master=$SINK plugin=filter label=hpf control=$AC_LO_HZ sink_properties=device.description=microwave_ac_lo
load-module module-ladspa-sink sink_name=microwave_ac_hi sink_master=$SINK plugin=filter label=hpf control=$AC_HI_HZ sink_properties=device.description=microwave_ac_hi
load-module module-ladspa-sink sink_name=microwave_ac_series sink_master=microwave_ac plugin=filter label=hpf control=$AC_SERIES_HZ sink_properties=device.description=microwave_ac_series
load-module module-ladspa-sink sink_name=microwave_half sink_master=$SINK plugin=amp label=amp_mono control=0.5 sink_properties=device.description=microwave_half
load-module module-native-protocol-unix socket=$SOCK auth-anonymous=1
set-default-sink $SINK
set-default-source $SINK.monitor
EOF
    cat > "$DIR/daemon.conf" <<EOF
default-sample-format = float32le
default-sample-rate = $RATE
alternate-sample-rate = $RATE
default-sample-channels = $CHANNELS
avoid-resampling = yes
resample-method = speex-float-1
EOF
    cat > "$DIR/client.conf" <<EOF
autospawn = no
default-server = unix:$SOCK
enable-shm = no
EOF
    # A self-contained ALSA configuration (ALSA_CONFIG_PATH points at this
    # file alone): the system alsa.conf is NOT loaded, so neither its hooks
    # (/etc/alsa/conf.d/99-pulse.conf redefines `default` whenever *a* pulse
    # server answers, after any file of ours), /etc/asound.conf, ~/.asoundrc,
    # nor the jack/oss/upmix/... definitions that PortAudio would otherwise
    # open one by one at initialisation. PortAudio sees exactly these devices.
    local srv="unix:$SOCK"
    cat > "$ASOUND" <<EOF
# microwave: ALSA devices routed to the private PulseAudio server in $DIR
pcm.default {
    type pulse
    server "$srv"
    hint { show on description "microwave private pulse server (default)" }
}
ctl.default {
    type pulse
    server "$srv"
}
pcm.pulse {
    type pulse
    server "$srv"
    hint { show on description "microwave private pulse server" }
}
ctl.pulse {
    type pulse
    server "$srv"
}
pcm.microwave_play {
    type pulse
    server "$srv"
    device "$SINK"
    hint { show on description "microwave null sink (playback)" }
}
pcm.microwave_ac {
    type pulse
    server "$srv"
    device "microwave_ac"
    hint { show on description "microwave AC-coupled stand-in (high-pass, then the null sink)" }
}
pcm.microwave_ac_lo {
    type pulse
    server "$srv"
    device "microwave_ac_lo"
}
pcm.microwave_ac_hi {
    type pulse
    server "$srv"
    device "microwave_ac_hi"
}
pcm.microwave_ac_series {
    type pulse
    server "$srv"
    device "microwave_ac_series"
}
pcm.microwave_half {
    type pulse
    server "$srv"
    device "microwave_half"
}
pcm.microwave_monitor {
    type pulse
    server "$srv"
    device "$SINK.monitor"
    hint { show on description "microwave null sink monitor (capture)" }
}
EOF
    # a cookie only so that the server does not log about a missing one
    # (clients are accepted anonymously on the private socket anyway)
    head -c 256 /dev/urandom > "$DIR/home/.config/pulse/cookie"
    chmod 600 "$DIR/home/.config/pulse/cookie"
}

# ---------------------------------------------------------------- start
cmd_start() {
    command -v pulseaudio >/dev/null || die "pulseaudio not installed (run: $0 install)"
    command -v pactl >/dev/null || die "pactl not installed (run: $0 install)"
    resolve_dir create
    mkdir -p "$DIR"
    if pid=$(server_pid) && server_answers; then
        log "already running (pid $pid) in $DIR"
        print_env
        return 0
    fi
    # stale leftovers from a dead server
    if pid=$(server_pid); then kill_pid "$pid"; fi
    rm -rf "$DIR/run" "$DIR/home" "$DIR/state" "$PIDFILE"
    write_configs

    # A clean environment: nothing from a user session (D-Bus, X11, another
    # pulse server) may leak into the server.
    local penv=(
        PATH="$PATH" LANG=C.UTF-8
        HOME="$DIR/home"
        XDG_RUNTIME_DIR="$DIR/run"
        XDG_CONFIG_HOME="$DIR/home/.config"
        XDG_STATE_HOME="$DIR/state"
        PULSE_RUNTIME_PATH="$DIR/run/pulse"
        PULSE_STATE_PATH="$DIR/state"
        PULSE_CONFIG_PATH="$DIR/home/.config/pulse"
        PULSE_CLIENTCONFIG="$DIR/client.conf"
        LADSPA_PATH=/usr/lib/ladspa
    )
    cp "$DIR/daemon.conf" "$DIR/home/.config/pulse/daemon.conf"
    # setsid: own session, so signals to the caller's process group (Ctrl-C in
    # pytest, CI's job control) do not hit it; `stop` kills it by pid.
    env -i "${penv[@]}" setsid pulseaudio \
        --system=false --daemonize=no -n --file="$DIR/server.pa" \
        --exit-idle-time=-1 --disallow-exit --use-pid-file=false \
        --realtime="$REALTIME" --high-priority="$REALTIME" --disable-shm=yes \
        --log-target=file:"$DIR/pulseaudio.log" --log-level=notice \
        </dev/null >>"$DIR/pulseaudio.out" 2>&1 &
    local pid=$!
    echo "$pid" > "$PIDFILE"

    local i
    for i in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "pulseaudio exited during start; log follows"
            cat "$DIR/pulseaudio.out" "$DIR/pulseaudio.log" >&2 2>/dev/null || true
            rm -f "$PIDFILE"
            exit 1
        fi
        if [ -S "$SOCK" ] && server_answers; then
            wait_sink_settled
            log "started pulseaudio pid $pid in $DIR"
            print_env
            return 0
        fi
        sleep 0.1
    done
    log "pulseaudio did not answer within 10 s; log follows"
    cat "$DIR/pulseaudio.out" "$DIR/pulseaudio.log" >&2 2>/dev/null || true
    kill_pid "$pid"
    exit 1
}

# The null sink renders its first block with its maximum latency (2 s)
# before the keep-alive loopback lowers it; a stream started meanwhile would
# stall. Wait (at most 5 s) until the sink's latency is small.
wait_sink_settled() {
    local i lat
    for i in $(seq 1 50); do
        lat=$(PULSE_SERVER="unix:$SOCK" PULSE_CLIENTCONFIG="$DIR/client.conf" \
              PULSE_COOKIE="$DIR/home/.config/pulse/cookie" PULSE_RUNTIME_PATH="$DIR/run/pulse" \
              timeout 5 pactl list sinks 2>/dev/null |
              sed -n 's/^[[:space:]]*Latency: \([0-9]*\) usec.*/\1/p' | head -n 1)
        if [ -n "$lat" ] && [ "$lat" -lt 50000 ]; then
            return 0
        fi
        sleep 0.1
    done
    log "warning: sink latency still ${lat:-unknown} usec after 5 s"
}

kill_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.1
}

# ---------------------------------------------------------------- stop
cmd_stop() {
    if ! resolve_dir; then
        log "nothing to stop"
        return 0
    fi
    local pid
    if pid=$(server_pid); then
        kill_pid "$pid"
        log "stopped pulseaudio pid $pid"
    fi
    rm -rf "$DIR/run" "$DIR/home" "$DIR/state"
    rm -f "$PIDFILE" "$DIR/server.pa" "$DIR/daemon.conf" "$DIR/client.conf" \
          "$ASOUND" "$DIR/pulseaudio.log" "$DIR/pulseaudio.out"
    rmdir "$DIR" 2>/dev/null || true
    if [ -s "$LAST_FILE" ] && [ "$(cat "$LAST_FILE")" = "$DIR" ]; then
        rm -f "$LAST_FILE"
    fi
}

# ---------------------------------------------------------------- env / status
cmd_env() {
    resolve_dir || die "no server directory (MICROWAVE_AUDIO_DIR unset, nothing started)"
    server_pid >/dev/null && server_answers || die "server in $DIR is not running"
    print_env
}

cmd_status() {
    resolve_dir || exit 1
    server_pid >/dev/null && server_answers
}

case "${1:-}" in
    install) cmd_install ;;
    start)   cmd_start ;;
    stop)    cmd_stop ;;
    env)     cmd_env ;;
    status)  cmd_status ;;
    *) echo "usage: $0 install|start|stop|env|status" >&2; exit 2 ;;
esac
