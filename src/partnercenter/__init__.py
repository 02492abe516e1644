"""Partner Center: the console, back office and API of a cloud vendor's partner channel."""

__version__ = "0.1.0"
