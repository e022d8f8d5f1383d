"""Start the studio: ``python main.py`` opens the window; sub-commands are listed by ``--help``."""

from studio.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
