"""anomset: synthetic industrial anomaly datasets with pixel-exact masks, published on the Hub."""

__version__ = "0.1.0"
