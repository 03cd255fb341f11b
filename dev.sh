#!/usr/bin/env bash
# One entry point for developers and CI. Each verb installs what it needs first (idempotent):
#   ./dev.sh demo [--headless --duration N]   the whole stack, viewer on http://127.0.0.1:8080
#   ./dev.sh test [pytest args]               the test suite (what CI runs)
#   ./dev.sh bench [names]                    benchmarks that print the figures of docs/BENCHMARKS.md
#   ./dev.sh setup                            install only
#   ./dev.sh run CMD ...                      run a command inside the project environment
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${ROBOT_DOG_VENV:-$ROOT/.venv}"
STAMPS="$VENV/.robot_dog_stamps"

APT_PACKAGES=(
  python3 python3-venv python3-dev build-essential cmake
  mosquitto mosquitto-clients pulseaudio libasound2-plugins portaudio19-dev espeak-ng
  chromium socat ffmpeg libegl1 libgl1-mesa-dri libosmesa6 postgresql procps
)

log() { printf '[dev.sh] %s\n' "$*" >&2; }

# pip, quietly: this machine's pip config names local mirrors that may not exist, and pip warns
# once per package about each; real errors still show.
pip_q() { "$VENV/bin/python" -m pip install -q "$@" 2> >(grep -v "^WARNING: Location '" >&2); }

need_apt() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then
    log "not a Debian system; install these by hand: ${missing[*]}"; return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "run as root or install: ${missing[*]}"; exit 1; }
    sudo="sudo"
  fi
  log "apt: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The test fixtures start their own broker and database on loopback ports; the distribution's
  # default services are not needed and would hold port 1883 on every interface.
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now mosquitto postgresql >/dev/null 2>&1 || true
  fi
}

# Run a step only when the hash of its inputs changed since it last succeeded.
stamp_changed() { # name, inputs...
  local name="$1"; shift
  local sum; sum="$(cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1)"
  [ "$(cat "$STAMPS/$name" 2>/dev/null)" != "$sum" ] && { echo "$sum" > "$STAMPS/$name.pending"; return 0; }
  return 1
}
stamp_done() { mv "$STAMPS/$1.pending" "$STAMPS/$1"; }

need_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    python3 -m venv "$VENV"
  fi
  mkdir -p "$STAMPS"
  if stamp_changed requirements "$ROOT/requirements.txt"; then
    log "pip: installing requirements"
    pip_q --upgrade pip
    pip_q -r "$ROOT/requirements.txt"
    stamp_done requirements
  fi
  if stamp_changed package "$ROOT/setup.py" "$ROOT/robot_dog/node_registry.py"; then
    log "pip: installing the stack (editable)"
    # setuptools prints pages of deprecation notices here; show them only if the install fails.
    pip_q --no-deps -e "$ROOT" >"$STAMPS/package.log" 2>&1 || { cat "$STAMPS/package.log" >&2; exit 1; }
    stamp_done package
  fi
  local ifaces; ifaces=$(find "$ROOT/ros_ws/src/robot_dog_interfaces" -type f | sort)
  # shellcheck disable=SC2086
  if stamp_changed interfaces $ifaces; then
    log "building robot_dog_interfaces into $VENV (about a minute)"
    local build="$VENV/.build/robot_dog_interfaces"
    rm -rf "$build"; mkdir -p "$build"
    (cd "$build" &&
      CMAKE_PREFIX_PATH="$VENV" cmake "$ROOT/ros_ws/src/robot_dog_interfaces" \
        -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VENV/bin/python" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >cmake.log 2>&1 &&
      make -j"$(nproc)" >make.log 2>&1 && make install >install.log 2>&1) ||
      { log "interface build failed; logs in $build"; tail -40 "$build"/*.log >&2; exit 1; }
    stamp_done interfaces
  fi
}

setup() { need_apt; need_venv; }

# The localhost-only ROS 2 / DDS environment comes from one code path: robot_dog.dds_env
# (robot_dog.localhost execs a command with it).
in_env() { "$VENV/bin/python" -m robot_dog.localhost -- "$@"; }

verb="${1:-help}"; shift || true
case "$verb" in
  setup) setup ;;
  demo) setup; in_env "$VENV/bin/robot-dog" demo "$@" ;;
  test) setup; cd "$ROOT"; in_env "$VENV/bin/python" -m pytest "$@" ;;
  bench) setup; cd "$ROOT"; in_env "$VENV/bin/python" -m bench "$@" ;;
  run) setup; in_env "$@" ;;
  *) sed -n '2,8p' "$0"; [ "$verb" = help ] ;;
esac
