"""Spoken prompts: a short recorded file per prompt code and language, played without blocking the gate.

Files are looked up as `<ui.voice_dir>/<language>/<code>.wav` (or .ogg, .mp3) and played with
`ui.voice_command` (aplay by default). A prompt without a file is simply not spoken; a prompt
that changes while the last one still plays waits for the next change.
"""

from __future__ import annotations

import logging
import subprocess
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

EXTENSIONS = (".wav", ".ogg", ".mp3")


class VoicePrompts:
    def __init__(self, directory: str | Path, language: str, command: list[str]) -> None:
        self.directory = Path(directory)
        self.language = language
        self.command = command
        self._playing: subprocess.Popen | None = None
        self.spoken: deque[str] = deque(maxlen=32)  # the latest, for status and tests; a daemon runs for months

    def file_for(self, code: str) -> Path | None:
        for extension in EXTENSIONS:
            path = self.directory / self.language / f"{code}{extension}"
            if path.is_file():
                return path
        return None

    def say(self, code: str) -> None:
        """Called on the frame loop when the prompt changes: starts the player and returns at once."""
        path = self.file_for(code)
        if path is None or (self._playing is not None and self._playing.poll() is None):
            return
        try:
            self._playing = subprocess.Popen([*self.command, str(path)], stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.spoken.append(code)
        except OSError as error:
            log.warning("voice prompt %s not played: %s", code, error)

    def close(self) -> None:
        if self._playing is not None and self._playing.poll() is None:
            self._playing.terminate()
