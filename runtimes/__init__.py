"""Runtime adapters and shared preprocessing: the code that ships inside every Lambda image."""
