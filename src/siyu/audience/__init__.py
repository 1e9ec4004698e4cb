"""Audience: segments (人群), rule tags, lifecycle tiers, RFM, Official Account tag sync
and sales leads."""
