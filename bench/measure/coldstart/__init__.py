"""The cold-start study (docs/coldstart.md): a scenario of cold starts on the container target.

``records`` holds its typed rows (the CSVs under results/coldstart*.csv are their serialised form);
``study`` builds its images (project images from two commits, bare-handler floors and a seed-style image,
each a Dockerfile of this folder with build arguments) and measures them through
bench/measure/targets/container.py, the benchmark's own container start, emulator-log parsing and docker
layer. ``python scripts/coldstart.py`` is its command line; bench/report/coldstart.py writes its tables.
"""
