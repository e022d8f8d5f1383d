"""Pixel sort & palette: an example community plugin for Studio, built with the plugin kit."""
