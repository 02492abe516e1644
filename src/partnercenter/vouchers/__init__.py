"""Vouchers: quotas granted to partners, vouchers issued from them to resale customers, and
their use on consumption before cash."""
