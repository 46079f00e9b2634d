"""What every role's store shares: the SQLAlchemy engine and the Alembic runner."""
