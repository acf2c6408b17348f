"""Model pipeline: dataset access, training, conversion, manifest and model cards."""
