"""The vendor's administration: partners, vendor staff, user accounts; and the audit log."""
