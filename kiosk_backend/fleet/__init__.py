"""Kiosk fleet: sites, device profiles, enrolment, heartbeats, commands."""
