"""Periodic jobs of members (none yet; invitation expiry is derived from ``expires_at``)."""
