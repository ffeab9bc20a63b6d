"""HTTP routes of detection, response and the gate; the decide fast path."""
