"""Runs as records: the run specification, identities, records, checkpoints, locks and provenance."""
