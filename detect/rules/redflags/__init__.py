"""Built-in red-flag rules, one module per family; RED_FLAGS is all of them in evaluation order.

Families: `guardrail` (logging and guardrails turned off), `identity` (admin grants, root, keys
for others, opened trust), `exposure` (public or shared data, open admin ports); `field` holds
the matcher helpers they share.
"""

from detect.rules.base import RedFlag
from detect.rules.redflags.exposure import EXPOSURE
from detect.rules.redflags.guardrail import GUARDRAILS, LOGGING
from detect.rules.redflags.identity import IDENTITY

__all__ = ["RED_FLAGS"]

RED_FLAGS: tuple[RedFlag, ...] = (*LOGGING, *GUARDRAILS, *IDENTITY, *EXPOSURE)
