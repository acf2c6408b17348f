"""Report: tables, plots, README's results block and the report document, from the decision."""
