"""The plugin API's version, alone, so the window and the installer can check manifests
without importing the API module (whose helpers reach for torch inside plugins)."""

API_VERSION = "1.1"  # 1.1: Context.ram_budget / vram_budget, seeded_torch
