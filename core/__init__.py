"""The bottom layer: the catalogue, paths, file contracts and settings every package shares.

Stdlib only and it imports nothing else of the project, so every package (and what ships in the images:
runtimes/ and lambda_function.py) may import it and no import cycle can pass through it. The rules are
enforced by tests/unit/test_layers.py (`make lint`).
"""
