"""Ticketing: ITIL incident lifecycle, priority, SLA clocks and escalation."""
