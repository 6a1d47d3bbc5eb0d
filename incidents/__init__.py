"""Check states, incidents, timeline, SLA, maintenance, notifications."""
