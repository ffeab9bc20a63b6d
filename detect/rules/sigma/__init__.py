"""Sigma rules for CloudTrail: selections, conditions and the packaged YAML."""
