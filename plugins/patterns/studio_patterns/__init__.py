"""The built-in pattern generator (first-party, shaped like any community plugin)."""
