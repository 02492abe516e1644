"""Periodic jobs of members: none.

An invitation's expiry is never written: its status is read from ``expires_at`` and the clock
wherever it is shown (``rules.invitation_status``), so nothing has to happen when 7 days pass.
The worker still imports this module, so a job added here is picked up without wiring.
"""
