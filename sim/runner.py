"""Runs a SimWorld in time, no ROS: the physics thread (paced to the wall clock times
`real_time_factor`, or as fast as possible), the bodycam thread (renders a copy of the world at
`camera_fps`, so physics never waits for a frame), the virtual payload MCU on its pty (its light
state drawn on the model each frame), and the scenario's faults on the sim clock.

The caller (sim_node, benchmarks, tests) receives `on_state(BaseState)` every control tick and
`on_frame(bgr, sim_time)` per rendered frame, from the runner's threads.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from sim.core import BaseState, SimWorld, step
from sim.faults import FaultSchedule
from sim.scenario import FaultEvent
from sim.model import CONTROL_DT
from sim.payload_view import PayloadOutputs, apply_look, outputs_from_snapshot

_LOGGER = logging.getLogger(__name__)
MAX_LAG_S = 0.5   # behind the wall clock by more than this: drop the debt instead of sprinting


@dataclass(frozen=True)
class RunnerConfig:
    real_time_factor: float = 1.0     # sim s per wall s; 0 = as fast as possible
    render: bool = True
    camera_fps: float = 15.0          # Hz of wall time
    width: int = 640
    height: int = 480
    mcu_link: str = ""                # pty symlink of the virtual MCU; "" = none
    link_upstream_port: int = 0       # broker port behind the MQTT link proxy; 0 = no proxy
    link_port: int = 0                # the proxy's port on 127.0.0.1 (0 = any free one)


class SimRunner:
    def __init__(self, world: SimWorld, config: RunnerConfig,
                 on_state: Callable[[BaseState], None] = lambda s: None,
                 on_frame: Callable[[np.ndarray, float], None] = lambda f, t: None) -> None:
        self.world, self.config = world, config
        self.on_state, self.on_frame = on_state, on_frame
        self.lock = threading.Lock()           # guards world (model data and command)
        self.faults = FaultSchedule(world.scenario.faults)
        self.mcu = None
        self.link = None                  # sim.link_proxy.LinkProxy when configured
        self.renderer_error: str | None = None
        self.frames = 0
        self.ticks = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # ---- lifecycle -----------------------------------------------------------------------
    def start(self) -> "SimRunner":
        if self.config.mcu_link:
            # In a process of its own, as the real MCU is a chip of its own (process.py: why).
            from firmware_bridge.virtual_mcu.process import McuProcess
            Path(self.config.mcu_link).parent.mkdir(parents=True, exist_ok=True)
            self.mcu = McuProcess(self.config.mcu_link, seed=self.world.scenario.seed).start()
        if self.config.link_upstream_port:
            from sim.link_proxy import LinkProxy
            self.link = LinkProxy(self.config.link_upstream_port, port=self.config.link_port,
                                  seed=self.world.scenario.seed).start()
        self._spawn(self._physics_loop, "sim-physics")
        if self.config.render:
            self._spawn(self._camera_loop, "sim-bodycam")
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        if self.mcu is not None:
            self.mcu.stop()
        if self.link is not None:
            self.link.close()

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # ---- inputs --------------------------------------------------------------------------
    def command(self, velocity: np.ndarray) -> None:
        """A checked (sim.core.check_command) velocity command, or zeros to stand."""
        with self.lock:
            self.world.set_command(velocity)

    def listener(self) -> tuple[float, float, float]:
        """(sim time s, x m, y m) of the dog's trunk: where the street audio is heard."""
        with self.lock:
            x, y = self.world.data.xpos[self.world.trunk][:2]
            return self.world.time, float(x), float(y)

    # ---- physics -------------------------------------------------------------------------
    def _physics_loop(self) -> None:
        rtf = self.config.real_time_factor
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self.lock:
                state = step(self.world)
                changes = self.faults.advance(self.world.time)
            self.ticks += 1
            for change in changes:
                self._apply_fault(change.fault, change.active)
            try:
                self.on_state(state)
            except Exception:  # a publisher failing must not stop the world
                _LOGGER.exception("on_state failed")
            if rtf > 0:
                next_at += CONTROL_DT / rtf
                lag = next_at - time.monotonic()
                if lag > 0:
                    self._stop.wait(lag)
                elif lag < -MAX_LAG_S:
                    next_at = time.monotonic()

    def _apply_fault(self, fault: FaultEvent, active: bool) -> None:
        _LOGGER.warning("fault %s %s at sim t=%.1f s", fault.kind, "starts" if active else "ends",
                        self.world.time)
        if fault.kind.startswith("mqtt_"):
            self._apply_link_fault(fault, active)
            return
        mcu = self.mcu
        if fault.kind == "camera_loss" or mcu is None:
            return  # camera_loss is read by the camera loop through self.faults
        try:
            if fault.kind == "low_battery" and active:
                mcu.set_charge(fault.value)
            elif fault.kind in ("serial_corrupt", "serial_drop"):
                attr = "corrupt_rate" if fault.kind == "serial_corrupt" else "drop_rate"
                mcu.set_faults(**{attr: fault.value if active else 0.0})
            elif fault.kind == "estop_button":
                mcu.set_button(active)
            elif fault.kind == "serial_unplug" and active:  # answered once the pty is gone
                threading.Thread(target=self._unplug, args=(fault.duration or 3.0,),
                                 daemon=True).start()
        except (OSError, ValueError) as exc:  # the MCU process gone or refusing: the world goes on
            _LOGGER.error("fault %s not applied: %s", fault.kind, exc)

    def _unplug(self, seconds: float) -> None:
        try:
            self.mcu.unplug(seconds)
        except (OSError, ValueError) as exc:
            _LOGGER.error("fault serial_unplug not applied: %s", exc)

    def _apply_link_fault(self, fault: FaultEvent, active: bool) -> None:
        link = self.link
        if link is None:
            _LOGGER.warning("%s ignored: no MQTT link proxy (link_upstream_port)", fault.kind)
            return
        if fault.kind == "mqtt_outage":
            if active:
                link.outage(fault.duration or 3.0)
            return
        attr = {"mqtt_delay": "delay_s", "mqtt_loss": "loss_rate", "mqtt_bandwidth": "bandwidth_bps"}[fault.kind]
        setattr(link.faults, attr, fault.value if active else 0.0)

    # ---- bodycam -------------------------------------------------------------------------
    def _camera_loop(self) -> None:
        from sim.render import BodycamRenderer, RendererMissing
        try:  # the GL context belongs to the thread that made it: make it here
            renderer = BodycamRenderer(self.world.model, self.config.width, self.config.height)
        except RendererMissing as exc:
            self.renderer_error = str(exc)
            _LOGGER.error("bodycam off: %s", exc)
            return
        model = self.world.model
        view = mujoco.MjData(model)
        period = 1.0 / self.config.camera_fps
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                with self.lock:
                    sim_time = self.world.time
                    view.qpos[:] = self.world.data.qpos
                    view.mocap_pos[:] = self.world.data.mocap_pos
                    view.mocap_quat[:] = self.world.data.mocap_quat
                    lost = self.faults.active("camera_loss")
                if not lost:
                    apply_look(model, self.payload_outputs())
                    mujoco.mj_kinematics(model, view)
                    mujoco.mj_camlight(model, view)
                    frame = renderer.render(view)
                    self.frames += 1
                    try:
                        self.on_frame(frame, sim_time)
                    except Exception:
                        _LOGGER.exception("on_frame failed")
                next_at += period
                lag = next_at - time.monotonic()
                if lag > 0:
                    self._stop.wait(lag)
                else:
                    next_at = time.monotonic()   # rendering is slower than camera_fps: go flat out
        finally:
            renderer.close()

    def payload_outputs(self) -> PayloadOutputs:
        if self.mcu is None:
            return PayloadOutputs()
        try:
            return outputs_from_snapshot(self.mcu.snapshot())
        except (OSError, ValueError):
            return PayloadOutputs()   # the MCU process gone: its lights are dark
