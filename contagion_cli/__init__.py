"""contagion: a stress tester for DeFi liquidation cascades."""

__version__ = "0.1.0"
