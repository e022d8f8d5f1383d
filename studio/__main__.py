"""``python -m studio``: the same commands as ``python main.py``."""

from studio.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
