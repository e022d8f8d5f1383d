"""Playing rendered audio through QtMultimedia, or saying clearly why it cannot.

QtMultimedia ships in PySide6-Addons and needs the platform's audio libraries; a machine
without them, or without any audio output device, gets playback disabled with a message,
never a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QObject, QTimer, Signal

if TYPE_CHECKING:  # numpy is imported where it is used: ~150 ms of the window's start
    import numpy as np


def _multimedia() -> tuple[object | None, str]:
    try:
        from PySide6 import QtMultimedia
    except ImportError as exc:
        return None, f"audio playback is unavailable: QtMultimedia cannot load ({exc})"
    return QtMultimedia, ""


class Player(QObject):
    position_changed = Signal(float)  # seconds since play started
    stopped = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._sink = None
        self._buffer: QBuffer | None = None
        self._duration = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._tick)
        self.sample_rate = 44100

    def availability(self) -> tuple[bool, str]:
        module, reason = _multimedia()
        if module is None:
            return False, reason
        device = module.QMediaDevices.defaultAudioOutput()  # type: ignore[attr-defined]
        if device.isNull():
            return False, "audio playback is unavailable: no audio output device was found"
        return True, ""

    def play(self, samples: np.ndarray, sample_rate: int) -> tuple[bool, str]:
        ok, reason = self.availability()
        if not ok:
            return False, reason
        module, _ = _multimedia()
        self.stop()
        fmt = module.QAudioFormat()  # type: ignore[attr-defined]
        fmt.setSampleRate(int(sample_rate))
        fmt.setChannelCount(1)
        fmt.setSampleFormat(module.QAudioFormat.SampleFormat.Int16)  # type: ignore[attr-defined]
        import numpy as np

        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        self._buffer = QBuffer(self)
        self._buffer.setData(QByteArray(pcm))
        self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        device = module.QMediaDevices.defaultAudioOutput()  # type: ignore[attr-defined]
        try:
            self._sink = module.QAudioSink(device, fmt, self)  # type: ignore[attr-defined]
            self._sink.start(self._buffer)
        except Exception as exc:  # a device that refuses the format
            self._sink = None
            return False, f"audio playback failed: {exc}"
        self.sample_rate = sample_rate
        self._duration = len(samples) / float(sample_rate)
        self._timer.start()
        return True, ""

    @property
    def playing(self) -> bool:
        return self._sink is not None

    def _tick(self) -> None:
        if self._sink is None:
            return
        seconds = self._sink.processedUSecs() / 1e6
        self.position_changed.emit(seconds)
        if seconds >= self._duration:
            self.stop()

    def stop(self) -> None:
        self._timer.stop()
        if self._sink is not None:
            self._sink.stop()
            self._sink.deleteLater()
            self._sink = None
            self.stopped.emit()
        if self._buffer is not None:
            self._buffer.close()
            self._buffer = None
