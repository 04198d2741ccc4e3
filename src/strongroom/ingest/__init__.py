"""Import of web archives made by other tools (WARC, WACZ) as bags."""
