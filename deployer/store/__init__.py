"""The state store: what deploybot remembers between restarts, its schema and migrations, claims
and the durable deploy queue."""
