"""Wire-level emulators of the providers' HTTP APIs, served on 127.0.0.1 for tests and benchmarks."""
