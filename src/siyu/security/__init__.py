"""Operators, their console sessions and API tokens; (later) roles, audit log and erasure."""
