"""Short pairing codes: a remote client trades a code read off the engine's screen for its token.

The bearer token (43 random characters) is what every request carries, but it is a poor thing
to read aloud or type from another screen. So the engine also prints a short code such as
``K7QM-4XPD`` that a window (Preferences ▸ Engine) or the CLI (``--pair CODE``) sends once to
``POST /pair`` and gets the token back. A short code can be guessed where the token cannot,
so each code is

- **single use**: redeemed once, then gone;
- **short-lived**: it expires after ``STUDIO_PAIR_TTL`` seconds (default 300);
- **guarded**: after ``MAX_WRONG`` wrong codes in a row every open code is invalidated, so a
  guesser gets 5 tries against 31⁸ ≈ 8.5·10¹¹ codes (about one chance in 10¹¹) and then
  nothing; the owner prints a new code (``python main.py engine-pair`` on the engine's
  machine, or ``POST /pair/codes`` with the token).

Every pairing and every refused code is logged with the client's address, so the owner can
see who paired. The long token keeps working as before; pairing only hands it out.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from studio.engine.protocol import PairCode, PairCodeRequest, Paired, PairRequest

log = logging.getLogger("studio.engine.pairing")

#: no 0/O, 1/I/L: a code is read off one screen and typed on another
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
DEFAULT_TTL = 300.0
MAX_WRONG = 5
TTL_ENV = "STUDIO_PAIR_TTL"
#: codes remembered after use / expiry / invalidation, to say which it was
_REMEMBERED = 256


class PairingRefused(Exception):
    """A code that cannot be redeemed; the message says why and what to do."""


@dataclass
class _Code:
    expires: float
    state: str = "open"  # open | used | invalidated


def normalize(code: str) -> str:
    """``k7qm 4xpd`` / ``K7QM-4XPD`` → ``K7QM4XPD`` (case, spaces and dashes do not matter)."""
    return "".join(ch for ch in code.upper() if ch not in " -_\t")


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def ttl_from_environment() -> float:
    raw = os.environ.get(TTL_ENV, "").strip()
    if not raw:
        return DEFAULT_TTL
    try:
        value = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using %g", TTL_ENV, raw, DEFAULT_TTL)
        return DEFAULT_TTL
    return value if value > 0 else DEFAULT_TTL


class PairingDesk:
    """Issues and redeems the engine's pairing codes (in memory: a restart forgets them)."""

    def __init__(self, ttl: float = DEFAULT_TTL, max_wrong: int = MAX_WRONG, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_wrong = max_wrong
        self._clock = clock
        self._codes: dict[str, _Code] = {}
        self._wrong = 0
        self._lock = threading.Lock()

    def issue(self, ttl: float | None = None) -> tuple[str, float]:
        """A new open code (``XXXX-XXXX``) and the seconds it stays valid."""
        seconds = self.ttl if ttl is None else ttl
        code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
        with self._lock:
            self._codes[code] = _Code(expires=self._clock() + seconds)
            while len(self._codes) > _REMEMBERED:
                self._codes.pop(next(iter(self._codes)))
        log.info("pairing code issued, valid %gs", seconds)
        return format_code(code), seconds

    def redeem(self, code: str, client: str = "") -> None:
        """Use up ``code``; raises ``PairingRefused`` (and logs it) when it cannot be used."""
        key = normalize(code)
        with self._lock:
            entry = self._codes.get(key)
            if entry is None or len(key) != CODE_LENGTH:
                self._wrong += 1
                left = self.max_wrong - self._wrong
                if left <= 0:
                    self._invalidate_open()
                    log.warning(
                        "wrong pairing code from %s; %d wrong codes in a row: every open code is invalidated", client, self.max_wrong
                    )
                    raise PairingRefused(
                        f"wrong pairing code; after {self.max_wrong} wrong codes every open code is invalidated: "
                        "ask for a new code on the engine's machine (python main.py engine-pair)"
                    )
                log.warning("wrong pairing code from %s (%d tries left)", client, left)
                raise PairingRefused(
                    f"wrong pairing code; check it on the engine's screen ({left} tries left before every open code is invalidated)"
                )
            if entry.state == "used":
                log.warning("a used pairing code was tried again from %s", client)
                raise PairingRefused(
                    "this pairing code was already used (each code pairs once); ask for a new one: python main.py engine-pair"
                )
            if entry.state == "invalidated":
                log.warning("an invalidated pairing code was tried from %s", client)
                raise PairingRefused(
                    "this pairing code was invalidated after too many wrong codes; ask for a new one: python main.py engine-pair"
                )
            if self._clock() >= entry.expires:
                log.warning("an expired pairing code was tried from %s", client)
                raise PairingRefused("this pairing code has expired; ask for a new one: python main.py engine-pair")
            entry.state = "used"
            self._wrong = 0
        log.info("paired with %s", client)

    def _invalidate_open(self) -> None:
        for entry in self._codes.values():
            if entry.state == "open":
                entry.state = "invalidated"
        self._wrong = 0


def add_pairing_routes(app: Any, engine: Any, refused: dict[int | str, dict[str, Any]]) -> None:
    """``POST /pair`` (open: the code is the credential) and ``POST /pair/codes`` (token needed)."""

    @app.post("/pair", response_model=Paired, responses=refused)
    def pair(body: PairRequest, request: Request) -> Paired:
        who = (request.client.host if request.client else "?") + (f" ({body.client})" if body.client else "")
        try:
            engine.pairing.redeem(body.code, who)
        except PairingRefused as exc:
            raise HTTPException(status_code=403, detail=str(exc)) from None
        print(f"studio engine: paired with {who}", file=sys.stderr, flush=True)
        return Paired(url=engine.url, token=engine.token)

    @app.post("/pair/codes", response_model=PairCode)
    def new_pair_code(body: PairCodeRequest) -> PairCode:
        code, seconds = engine.pairing.issue(body.ttl)
        return PairCode(code=code, expires_in=seconds)
