"""The dark theme: a Fusion palette plus a small style sheet for the studio's own widgets."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from studio.core.paths import resources_dir

BACKGROUND = "#1e1f22"
PANEL = "#26282c"
BASE = "#1a1b1e"
TEXT = "#dcdde0"
MUTED = "#8c9099"
ACCENT = "#4f8cff"
DANGER = "#e5534b"
OK = "#57ab5a"
WARN = "#c69026"

# Once a spin box, combo box or check box is given a border in a style sheet, Qt stops
# drawing its native arrows and indicator; these images put them back, in theme colours.
ICONS = (resources_dir() / "icons").as_posix()

STYLE_SHEET = f"""
QMainWindow::separator {{ background: {BACKGROUND}; width: 4px; height: 4px; }}
QDockWidget {{ titlebar-close-icon: none; color: {TEXT}; }}
QDockWidget::title {{ background: {PANEL}; padding: 4px 8px; border-bottom: 1px solid #34363b; }}
QToolBar {{ background: {PANEL}; border: 0; spacing: 2px; padding: 2px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QPushButton {{ background: #33363c; border: 1px solid #40444b; border-radius: 4px; padding: 4px 10px; }}
QPushButton:hover {{ background: #3b3f46; }}
QPushButton:pressed {{ background: #2c2f34; }}
QPushButton:disabled {{ color: #5c6068; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: bold; }}
QPushButton#primary:hover {{ background: #6a9dff; }}
QPushButton#danger {{ color: {DANGER}; }}
QLineEdit, QPlainTextEdit, QTextEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {BASE}; border: 1px solid #3a3d43; border-radius: 3px; padding: 2px 4px;
    selection-background-color: {ACCENT};
}}
QSpinBox, QDoubleSpinBox {{ padding-right: 16px; }}
QSpinBox::up-button, QDoubleSpinBox::up-button, QSpinBox::down-button, QDoubleSpinBox::down-button {{
    subcontrol-origin: border; width: 15px; background: #2c2f34; border-left: 1px solid #3a3d43;
}}
QSpinBox::up-button, QDoubleSpinBox::up-button {{ subcontrol-position: top right; border-top-right-radius: 3px; }}
QSpinBox::down-button, QDoubleSpinBox::down-button {{ subcontrol-position: bottom right; border-bottom-right-radius: 3px; }}
QSpinBox::up-button:hover, QDoubleSpinBox::up-button:hover, QSpinBox::down-button:hover, QDoubleSpinBox::down-button:hover {{ background: #3b3f46; }}
QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ image: url({ICONS}/arrow-up.svg); width: 8px; height: 5px; }}
QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ image: url({ICONS}/arrow-down.svg); width: 8px; height: 5px; }}
QSpinBox::up-arrow:disabled, QDoubleSpinBox::up-arrow:disabled, QSpinBox::down-arrow:disabled, QDoubleSpinBox::down-arrow:disabled {{ image: none; }}
QComboBox {{ padding-right: 18px; }}
QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: center right; width: 16px; border: 0; }}
QComboBox::down-arrow {{ image: url({ICONS}/arrow-down.svg); width: 8px; height: 5px; }}
QCheckBox::indicator {{ width: 13px; height: 13px; border: 1px solid #a0a4ad; border-radius: 3px; background: {BASE}; }}
QCheckBox::indicator:hover {{ border-color: {ACCENT}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; image: url({ICONS}/check.svg); }}
QCheckBox::indicator:disabled {{ border-color: #4a4e56; }}
QProgressBar {{ background: {BASE}; border: 1px solid #3a3d43; border-radius: 3px; text-align: center; height: 12px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QGroupBox {{ border: 1px solid #34363b; border-radius: 4px; margin-top: 10px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; color: {MUTED}; }}
QGroupBox:flat {{ border: none; }}
QGroupBox::indicator {{ width: 10px; height: 10px; border: 1px solid {MUTED}; border-radius: 2px; background: {BASE}; }}
QGroupBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#error {{ color: {DANGER}; }}
QLabel#engineState {{ padding: 0 8px; border-radius: 3px; }}
QTreeWidget, QListWidget {{ background: {BASE}; border: 1px solid #2f3136; }}
QTabBar::tab {{ background: {PANEL}; padding: 4px 10px; }}
QTabBar::tab:selected {{ background: #33363c; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion, the dark palette and the style sheet; a part already in place is not set again.

    Setting any of them re-polishes every live widget (half a second and more with a window
    open), so a second call on a themed application costs nothing.
    """
    if app.property("studioStyle") != "Fusion":  # (with a style sheet, app.style() is Qt's proxy, not Fusion)
        app.setStyle("Fusion")
        app.setProperty("studioStyle", "Fusion")
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: BACKGROUND,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: BASE,
        QPalette.ColorRole.AlternateBase: PANEL,
        QPalette.ColorRole.ToolTipBase: PANEL,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: "#33363c",
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: MUTED,
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5c6068"))
    if app.palette() != palette:
        app.setPalette(palette)
    if app.styleSheet() != STYLE_SHEET:
        app.setStyleSheet(STYLE_SHEET)
