"""Small shared building blocks below every app: the durable outbox engine, typed delivery errors,
Retry-After parsing, a timed HTTP helper and CSV formula safety. Imports nothing from the apps."""
