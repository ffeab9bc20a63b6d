"""The pre-action gate: policy (pure), decide service, approvals, bypass detection."""
