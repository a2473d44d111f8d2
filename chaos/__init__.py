"""`make chaos`: proof that crashes lose nothing and double nothing (see docs/reliability.md)."""
