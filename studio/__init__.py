"""Studio: an offline desktop creative studio.

Importing this package has no side effects: no Qt, no torch, no argument parsing.
"""

__version__ = "0.1.0"
