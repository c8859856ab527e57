"""The conversation store (SQLite) and its schema migrations."""
