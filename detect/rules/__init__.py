"""Single-event rules: the rule base, red flags by family and SigmaHQ rules.

`base` defines the Rule protocol and RedFlag; `record` the raw-record helpers rules share;
`redflags/` the built-in rules by family; `sigma/` the Sigma matcher and packaged YAML;
`catalogue` loads them all (`load_rules`) and indexes them by eventName (`RuleIndex`).
"""

from detect.rules.base import SEVERITY_SCORE, Hit, RedFlag, Rule, build_finding

__all__ = ["SEVERITY_SCORE", "Hit", "RedFlag", "Rule", "build_finding"]
