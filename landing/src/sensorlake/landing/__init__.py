"""Gateway landing: SQLite sensor readings to S3, exactly once."""
