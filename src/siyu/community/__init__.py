"""Community campaigns: the matrix (themes → series → activities → groups), paid enrollment,
check-ins, settlement with deposit refunds, groups, the review (复盘) and service records."""
