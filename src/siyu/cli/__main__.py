"""`python -m siyu.cli`."""

from siyu.cli.main import app

app()
