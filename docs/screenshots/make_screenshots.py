"""Regenerate the README screenshots from a real window and a real engine.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots/make_screenshots.py

Uses a throw-away STUDIO_HOME, generates a few images with the built-in patterns generator
and a melody with the melody sketcher, and grabs the window twice.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    os.environ["STUDIO_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from PySide6.QtCore import QPointF, QRectF

    from studio.ui.app import make_application
    from studio.ui.dialogs import QuietPrompter
    from studio.ui.engine_link import READY
    from studio.ui.main_window import MainWindow

    app = make_application()
    window = MainWindow(home, prompter=QuietPrompter(ask=False))
    window.resize(1600, 1000)
    window.show()
    window.start(None)

    def pump(seconds: float, until=lambda: False) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            if until():
                return True
            time.sleep(0.01)
        return until()

    if not pump(90, lambda: window.link.state == READY and bool(window.generate_panel.generators)):
        print("engine did not become ready:", window.link.detail, file=sys.stderr)
        return 1
    landed: list = []
    window.generation_landed.connect(landed.append)
    window.workspaces.switch("image")
    panel = window.generate_panel
    panel.select_generator("studio.patterns")
    for name, value in (("width", 384), ("height", 384), ("depth", 8)):
        panel.editors[name].set_value(value)
    for palette, seed in (("vivid", 11), ("sunset", 2024), ("ocean", 7)):
        panel.editors["palette"].set_value(palette)
        panel.seed.set_value(seed)
        panel.seed.set_locked(True)
        window.generate()
    pump(60, lambda: len(landed) >= 3)
    canvas = window.canvas
    # A mask stroke on the second picture, as the brush paints it (the document grows to take it in).
    from studio.ui import mask_brush

    start = mask_brush.begin_stroke(canvas, QPointF(500, 150))
    canvas.select_region(QRectF(440, 60, 260, 250))
    before = canvas.mask_image.copy()
    if start is not None:
        for x in range(int(start.x()), int(start.x()) + 140, 6):
            canvas.paint_dab(QPointF(x, start.y() + (x - start.x()) * 0.4), erase=False)
    canvas.commit_stroke(before, erase=False)
    # Two Varies of the first picture: takes of that layer (◀ 3/3 ▶ Promote), not new layers.
    for count in (4, 5):
        window.vary_node(landed[0])
        pump(60, lambda count=count: len(landed) >= count)
    canvas.view.fit()
    window.workspaces.switch("image")  # the melody part below shows the timeline again
    window.history_panel.select_node(landed[0].id)
    pump(1.0)
    window.grab().save(str(HERE / "image-session.png"))

    if "studio.melody" in panel.generators:
        panel.select_generator("studio.melody")
        for name, value in (("bars", 8), ("key", "D"), ("scale", "dorian")):
            if name in panel.editors:
                panel.editors[name].set_value(value)
        panel.seed.set_value(5)
        panel.seed.set_locked(True)
        count = len(landed)
        window.generate()
        pump(120, lambda: len(landed) > count)
    if len(window.timeline.doc.clips()) == 0:
        from studio.core.melody import Melody, Note

        notes = [Note(p, i * 0.5, 0.5, 90) for i, p in enumerate([62, 64, 65, 67, 69, 67, 65, 64, 62, 69, 72, 71, 69, 67, 65, 64])]
        window.timeline.add_melody(Melody(notes=notes, tempo=110.0, key="D", mode="dorian"), name="sketch")
    clip = window.timeline.doc.clips()[0][1]
    window.timeline.select_clip(clip["id"])
    window.timeline.duplicate_selected()
    window.workspaces.switch("music")
    pump(1.0)
    window.grab().save(str(HERE / "melody-timeline.png"))
    window.session.close(discard_untitled=True)
    window.link.call(lambda client: client.shutdown())
    pump(1.0)
    window.link.close()
    window.flow.close()  # its decoding thread, which would otherwise be destroyed while running
    print(HERE / "image-session.png")
    print(HERE / "melody-timeline.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
