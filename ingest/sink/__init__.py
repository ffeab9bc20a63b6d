"""The sink: bus -> store worker (poll, decode, batch, insert, commit), dead letters, verify."""
