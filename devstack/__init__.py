"""Local stack for `make dev` and the integration tests: embedded broker, embedded PostgreSQL, services."""
