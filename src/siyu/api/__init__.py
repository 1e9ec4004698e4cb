"""The HTTP entrypoint: the FastAPI application that serves API, console, health and metrics."""
