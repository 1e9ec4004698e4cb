"""Loyalty and growth: points, sign-in, levels, coupons, the points mall, invitations and
group enrollment."""
