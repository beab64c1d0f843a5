"""`python -m contagion_cli` runs the command line."""

from .cli.console import main

if __name__ == "__main__":
    main()
