"""Replay: the pywb collection with access rules, and WACZ export."""
