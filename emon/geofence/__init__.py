"""Geometry of protection orders: frames, zones, schedules, contact distances."""
