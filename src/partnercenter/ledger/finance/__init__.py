"""Vendor finance's money pages (partner accounts, top-ups, credit, designated amounts,
corrections, customer recharges, consumption, the withdrawal queue) and the partner's own
withdrawal pages."""
