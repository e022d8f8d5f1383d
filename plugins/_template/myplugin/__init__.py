"""My plugin: a Studio generator plugin (see plugin.toml)."""
