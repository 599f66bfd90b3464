"""Helpers the tests import: composing the real config, tiny runs, fabricated data in the real formats,
the commands run in-process, a local HTTP server, small file systems."""
