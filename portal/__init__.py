"""Client-facing portal (a later issue)."""
