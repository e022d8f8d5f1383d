import sys
from pathlib import Path

# The studio's plugin kit: `studio_plugin` runs this plugin in a real engine core.
from studio.plugins.testing import plugin_folder, studio_home, studio_plugin  # noqa: F401

# Lets the tests import the plugin's own modules directly, for unit tests of its helpers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
