"""Alerts: the contract's alert object, severities, identifiers."""
