"""Entries and attribution: OA ↔ MP associations, menus, channel codes, arrivals, reports."""
