"""Plain data and file formats shared by every layer: no Qt, no torch."""
