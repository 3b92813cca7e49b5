"""Thin PTB handlers, one module per area: parse, call rules/storage, reply from the catalogs."""
