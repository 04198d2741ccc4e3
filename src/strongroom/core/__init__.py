"""Shared floor: archive layout, collections, the ledger, atomic files, output, policy."""
