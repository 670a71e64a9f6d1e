"""Everything that talks to PostgreSQL: engine, embedded server, unit of work, error mapping."""
