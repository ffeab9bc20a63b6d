"""Single-event rules: the rule base, red flags by family and SigmaHQ rules."""
