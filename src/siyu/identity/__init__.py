"""Members: one person per workspace, with identities, member number, merges and timeline."""
