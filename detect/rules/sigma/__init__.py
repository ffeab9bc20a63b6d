"""Sigma rules for CloudTrail: `selection` and `condition` compile a rule's detection block,
`rule` turns a YAML document into a SigmaRule (the Rule protocol); `rules/` holds the packaged
SigmaHQ AWS CloudTrail rules (DRL 1.1).
"""

from detect.rules.sigma.rule import LEVELS, SigmaLoad, SigmaRule, load_sigma_rules, parse_sigma_rule

__all__ = ["LEVELS", "SigmaLoad", "SigmaRule", "load_sigma_rules", "parse_sigma_rule"]
