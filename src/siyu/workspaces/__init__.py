"""Workspaces (one brand each), their entities (主体) and apps (OA, MP, H5, external)."""
