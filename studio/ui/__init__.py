"""The desktop window: everything Qt lives here (PySide6), nothing else imports it.

The window talks to the engine only through ``studio.engine.client.EngineClient``, from
background threads, so the UI thread never waits on the engine; torch and the plugins'
code never load in this process.
"""
