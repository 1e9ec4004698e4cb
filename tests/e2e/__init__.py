"""Whole flows: a simulated user's action in the sandbox WeChat carried through siyu, across
several domains, to its effect (and back to the sandbox); a test of one domain lives beside
that domain."""
