"""Incentives: the vendor's monthly catalogue of incentive and discount policies."""
