"""Lambda container images: base (AWS or a local stand-in), pinned dependencies, builds."""
