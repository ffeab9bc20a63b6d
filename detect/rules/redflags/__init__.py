"""Built-in red-flag rules, one module per family."""
