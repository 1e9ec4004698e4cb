"""Reach: quota-aware notices, unified preferences and broadcasts."""
