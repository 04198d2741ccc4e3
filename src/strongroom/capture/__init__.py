"""Capture stage: the recording HTTP client, extraction, the crawl, screenshots."""
