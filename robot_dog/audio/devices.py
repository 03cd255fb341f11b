"""The dog's audio devices by name, and the one helper that creates them without hardware.

Names (the contract with the simulator and the tests):

- `SPEAKER_SINK` a PulseAudio null sink the megaphone plays into; its monitor
  `SPEAKER_MONITOR` is what tests and the simulator record;
- `STREET_SINK` a null sink the simulator plays street audio into;
- `MIC_SOURCE` a remap source of the street sink's monitor: what the microphone node records.

`ensure_virtual_devices()` starts a PulseAudio daemon of its own if none answers in its runtime
directory (a directory per test run, so two runs on one machine never share devices; no
system-wide daemon), with `--exit-idle-time=-1`, and creates the devices idempotently. Machines
here have no /dev/snd: everything lives inside that daemon.

Audio I/O goes through PyAudio (PortAudio). Debian 12's PortAudio 19.6 has no PulseAudio host
API, so it reaches the daemon through ALSA's pulse plugin: the helper writes an ALSA config with
one PCM per device, pointing at the daemon's socket, and names it in ALSA_CONFIG_PATH after a
copy of the system's alsa.conf without its plugin hooks (`without_plugin_hooks`). PyAudio
then lists the devices under their PulseAudio names ('.' becomes '_': ALSA reads a dot as a
config path). PULSE_LATENCY_MSEC=20 asks libpulse for ~20 ms buffers when recording: with the
defaults the null sink's monitor captured only ~10 ms of a 1 s tone. Players never use it (it
hangs their writes after an underrun: robot_dog/audio/stream.py, PcmOutput).
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

SPEAKER_SINK = "robot_dog_speaker"
SPEAKER_MONITOR = f"{SPEAKER_SINK}.monitor"
STREET_SINK = "robot_dog_street"
MIC_SOURCE = "robot_dog_mic"

#: Sample rate inside the stack, Hz (mono int16); streams resample at the edges.
RATE_HZ = 48_000
FRAME_S = 0.02                          # one mixer frame: 20 ms
FRAME_SAMPLES = int(RATE_HZ * FRAME_S)  # 960
#: The runtime directory of the daemon a process should use (set by ensure_virtual_devices).
DIR_VARIABLE = "ROBOT_DOG_AUDIO_DIR"
LATENCY_MS = 20
#: How long a node's stop waits for its audio thread: a read or write of one frame returns
#: within a few periods, but one blocked on the audio server (0.8-1.5 s seen at a stop) is
#: not waited for; it ends with the process.
STOP_WAIT_S = 0.2
_SYSTEM_ALSA = Path("/usr/share/alsa/alsa.conf")
#: The system config's first block: it loads every file of /etc/alsa/conf.d (the plugins'
#: PCMs: a52, lavrate, jack, oss, speex, upmix ...), /etc/asound.conf and ~/.asoundrc.
_LOAD_HOOK = re.compile(r"^@hooks \[\n.*?^\]\n", re.DOTALL | re.MULTILINE)


class AudioDeviceError(RobotDogError):
    """The audio server or a device is missing or failed."""


class DeviceMissing(AudioDeviceError):
    """No device of that name; `available` lists what there is."""

    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(f"no audio device {name!r}; available: {', '.join(available) or 'none'}")
        self.name, self.available = name, available


def pcm_name(device: str) -> str:
    """The ALSA PCM (and PyAudio device) name of a PulseAudio sink or source."""
    return device.replace(".", "_")


@dataclass(frozen=True)
class VirtualAudio:
    """A running PulseAudio daemon with the dog's devices, reached through `environ()`."""

    runtime_dir: Path
    started_here: bool

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "native"

    @property
    def server(self) -> str:
        return f"unix:{self.socket}"

    @property
    def alsa_config(self) -> Path:
        return self.runtime_dir / "asound.conf"

    @property
    def alsa_base(self) -> Path:
        return self.runtime_dir / "alsa_base.conf"

    def environ(self) -> dict[str, str]:
        """Variables a process (or child) needs to reach these devices through PyAudio."""
        return {DIR_VARIABLE: str(self.runtime_dir), "PULSE_SERVER": self.server,
                "ALSA_CONFIG_PATH": f"{self.alsa_base}:{self.alsa_config}",
                "PULSE_LATENCY_MSEC": str(LATENCY_MS)}

    def stop(self) -> None:
        """Stop the daemon (only one this helper started)."""
        if self.started_here:
            _pactl(self.server, "exit", check=False)


def default_runtime_dir() -> Path:
    """$ROBOT_DOG_AUDIO_DIR, else a per-user directory under the temporary directory."""
    configured = os.environ.get(DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"robot_dog_audio-{os.getuid()}"


def daemon_running(runtime_dir: Path | None = None) -> bool:
    """True when a PulseAudio daemon answers on the runtime directory's socket."""
    socket = (runtime_dir or default_runtime_dir()) / "native"
    return socket.exists() and _pactl(f"unix:{socket}", "info", check=False).returncode == 0


def list_devices(runtime_dir: Path | None = None) -> tuple[list[str], list[str]]:
    """(sinks, sources) of the daemon, by name."""
    server = f"unix:{(runtime_dir or default_runtime_dir()) / 'native'}"
    names = []
    for kind in ("sinks", "sources"):
        out = _pactl(server, "list", "short", kind).stdout
        names.append([line.split("\t")[1] for line in out.splitlines() if "\t" in line])
    return names[0], names[1]


def virtual_device_missing(device: str) -> str:
    """Why `device` is gone from this process's virtual daemon ('' if present or not virtual).

    PulseAudio moves a stream whose sink is unloaded to another sink instead of failing it, so
    a player would carry on into the wrong device: the nodes ask here every few seconds.
    """
    if DIR_VARIABLE not in os.environ:
        return ""                    # a real device: PortAudio reports its failures itself
    try:
        sinks, sources = list_devices()
    except (AudioDeviceError, OSError, subprocess.SubprocessError) as exc:
        return f"audio server unreachable: {exc}"
    return "" if device in sinks + sources else f"device {device!r} is gone"


class DeviceWatch:
    """`virtual_device_missing(device)` asked every `period_s` in a thread of its own; `gone` holds
    the last answer. The check runs two `pactl` processes (tens of ms on a loaded machine): made
    inline by the megaphone's output loop it stalled the speaker every 2 s, and each stall
    delayed all live voice after it (measured: push-to-talk latency climbing by 20-40 ms every
    2 s, to the jitter buffer's 200 ms bound)."""

    def __init__(self, device: str, period_s: float) -> None:
        self.device, self.period_s = device, period_s
        self.gone = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{device}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.gone = virtual_device_missing(self.device)

    def clear(self) -> None:
        """Forget a failure that has been handled (the device is reopened, and checked then)."""
        self.gone = ""

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def ensure_virtual_devices(runtime_dir: Path | None = None, apply: bool = True) -> VirtualAudio:
    """Start the daemon if needed and create the dog's devices (idempotent).

    `apply` puts the daemon's variables into this process's environment (children inherit
    them); call before the first PyAudio() of the process, which reads the ALSA config once.
    """
    runtime_dir = (runtime_dir or default_runtime_dir()).resolve()
    runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    started = False
    if not daemon_running(runtime_dir):
        started = _start_daemon(runtime_dir)
    audio = VirtualAudio(runtime_dir, started)
    sinks, sources = list_devices(runtime_dir)
    for sink in (SPEAKER_SINK, STREET_SINK):
        if sink not in sinks:
            _pactl(audio.server, "load-module", "module-null-sink", f"sink_name={sink}",
                   f"rate={RATE_HZ}", "channels=1", f"sink_properties=device.description={sink}")
    if MIC_SOURCE not in sources:
        _pactl(audio.server, "load-module", "module-remap-source", f"source_name={MIC_SOURCE}",
               f"master={STREET_SINK}.monitor", "channels=1",
               f"source_properties=device.description={MIC_SOURCE}")
    _write_alsa_config(audio)
    if apply:
        os.environ.update(audio.environ())
    return audio


def _start_daemon(runtime_dir: Path) -> bool:
    """Start the daemon; False when another process started it first."""
    if shutil.which("pulseaudio") is None:
        raise AudioDeviceError("pulseaudio not found (apt-get install pulseaudio)")
    home = runtime_dir / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_RUNTIME_DIR=str(runtime_dir),
               PULSE_RUNTIME_PATH=str(runtime_dir), XDG_CONFIG_HOME=str(home))
    env.pop("PULSE_SERVER", None)
    socket = runtime_dir / "native"
    socket.unlink(missing_ok=True)  # left by a daemon that died
    args = ["pulseaudio", "-n", "--daemonize=yes", "--system=no", "--exit-idle-time=-1",
            "--disallow-exit=no", "--use-pid-file=yes", "--disable-shm=yes",
            f"--log-target=file:{runtime_dir / 'pulseaudio.log'}",
            "-L", f"module-native-protocol-unix socket={socket} auth-anonymous=1"]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    if result.returncode != 0 and daemon_running(runtime_dir):
        return False  # another process (a sibling node) started it at the same moment
    if result.returncode != 0 or not daemon_running(runtime_dir):
        raise AudioDeviceError(f"pulseaudio did not start in {runtime_dir}: "
                               f"{(result.stderr or result.stdout).strip()[-300:]}")
    _LOGGER.info("PulseAudio started on %s", socket)
    return True


def without_plugin_hooks(system_config: str) -> str:
    """The system's alsa.conf without the block that loads /etc/alsa/conf.d and the user's files.

    PortAudio probes every PCM the config defines when it starts (`PyAudio()`), and opening
    a plugin's PCM loads its library: a52 and lavrate bring libavcodec, jack libjack, and so
    on (measured: 144 libraries and +21.6 MB RSS, against 60 and +7.8 MB without them). The
    virtual devices need only the pulse plugin, which our own file names."""
    return _LOAD_HOOK.sub("", system_config, count=1)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two nodes may write at once
        tmp.write_text(text)
        tmp.replace(path)  # a process reading it sees the old or the new file, whole


def _write_alsa_config(audio: VirtualAudio) -> None:
    _write_if_changed(audio.alsa_base, without_plugin_hooks(_SYSTEM_ALSA.read_text()))
    blocks = []
    for device in (SPEAKER_SINK, SPEAKER_MONITOR, STREET_SINK, f"{STREET_SINK}.monitor", MIC_SOURCE):
        blocks.append(f'pcm.{pcm_name(device)} {{\n  type pulse\n  server "{audio.server}"\n'
                      f'  device "{device}"\n  handle_underrun false\n  hint {{ show on description "{device}" }}\n}}\n')
    _write_if_changed(audio.alsa_config, "# written by robot_dog.audio.devices\n" + "".join(blocks))


def _pactl(server: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # Its own session: a launcher's SIGTERM to the node's process group must not kill a query
    # in flight and read as "audio server unreachable" (a false speaker failure at every stop).
    result = subprocess.run(["pactl", "--server", server, *args], capture_output=True, text=True,
                            timeout=15, start_new_session=True)
    if check and result.returncode != 0:
        raise AudioDeviceError(f"pactl {' '.join(args)}: {result.stderr.strip()}")
    return result
