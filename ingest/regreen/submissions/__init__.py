"""The townships' monthly progress submissions: reference, reading, validation, template, ingest, sample."""
