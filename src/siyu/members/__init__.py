"""Members and growth (会员权益): points, sign-in, levels, coupons, the points mall, invitations and
group enrollment."""
