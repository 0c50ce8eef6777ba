"""Testing helpers: real RabbitMQ / PostgreSQL / S3 for integration tests (pytest plugin in
``fixtures``), and small builders for events and settings."""
