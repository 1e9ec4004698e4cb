"""Operators and roles, sign-in (sessions, API tokens), the audit log and key rotation: the
lowest domain, which imports no other (members' consents, assignment and erasure are identity's)."""
