//! The source database: SQLite (default) or MySQL through `sqlx`, one set of migrations and queries.
