"""The durable outbox: an abstract row model and one engine. See `lib.outbox.engine`."""
