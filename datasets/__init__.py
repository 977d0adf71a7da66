"""Datasets for bittrue (numpy only).  Installed as ``bittrue.datasets``."""
