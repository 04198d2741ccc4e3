"""Verify stage: strict RFC 8493 validation and fixity history."""
