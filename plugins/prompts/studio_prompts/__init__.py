"""Prompt builder plugin: dynamic-prompt templates and wildcard files, no model needed."""
