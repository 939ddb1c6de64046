"""Cross-validation, metrics and reports."""
