"""What every domain builds on: settings, database, jobs, errors, clock, events."""
