"""Bag stage: BagIt bags, bag-info, provenance, inventory, signing, custody."""
