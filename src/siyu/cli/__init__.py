"""The command line: `siyu serve`, `siyu worker`, `siyu migrate`, apps, import, members, keys."""
