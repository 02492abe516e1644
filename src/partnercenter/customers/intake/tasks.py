"""Periodic jobs of customer intake."""
