"""The use cases: one function per verb, each inside one unit of work."""
