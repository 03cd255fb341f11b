"""World (ENU, m) to geodetic (WGS 84, deg) around a scenario's geo origin, for `fix`, and back
(`to_local`, for goals given as latitude/longitude: the same origin, so the two agree).

A local tangent-plane approximation with the WGS 84 radii of curvature at the origin: within a
few km of the origin (a patrol area) the error stays below a centimetre per 100 m.
"""
from __future__ import annotations

import math

from sim.scenario import GeoOrigin

_A = 6378137.0                 # m, WGS 84 semi-major axis
_E2 = 6.69437999014e-3         # first eccentricity squared


def _radii(origin: GeoOrigin) -> tuple[float, float]:
    """(north-south, east-west) m per radian at the origin's latitude."""
    lat0 = math.radians(origin.latitude)
    s = math.sin(lat0)
    meridian = _A * (1 - _E2) / (1 - _E2 * s * s) ** 1.5     # north-south radius of curvature
    normal = _A / math.sqrt(1 - _E2 * s * s)                # east-west (prime vertical)
    return meridian, normal * math.cos(lat0)


def to_geodetic(origin: GeoOrigin, east: float, north: float, up: float = 0.0) -> tuple[float, float, float]:
    """(latitude deg, longitude deg, altitude m) of the point `east`, `north`, `up` m from origin."""
    north_m, east_m = _radii(origin)
    lat = origin.latitude + math.degrees(north / north_m)
    lon = origin.longitude + math.degrees(east / east_m)
    return lat, lon, origin.altitude + up


def to_local(origin: GeoOrigin, latitude: float, longitude: float) -> tuple[float, float]:
    """(east m, north m) of a point from origin: the inverse of `to_geodetic`."""
    north_m, east_m = _radii(origin)
    return (math.radians(longitude - origin.longitude) * east_m,
            math.radians(latitude - origin.latitude) * north_m)
