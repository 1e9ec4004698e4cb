"""Reach: quota-aware notices, unified preferences, broadcasts and auto-replies."""
