"""`python -m contagion_cli` runs the command line."""

from .cli.console import script

if __name__ == "__main__":
    script()
