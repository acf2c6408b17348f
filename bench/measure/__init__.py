"""Measure: run cells on a target (in-process, container, aws) and capture typed records and samples."""
