"""Patrol: a route follower that walks the dog around a loop of waypoints (patrol/cmd_vel)."""
