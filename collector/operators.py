"""The fleet view's operators (password hashes) and the audit trail of what each read and did."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any


class OperatorRecords:
    """Mixed into CollectorDB: uses its cursor and SQL dialect."""

    _cursor: Callable[[], AbstractContextManager[Any]]
    _sql: Callable[[str], str]

    def set_operator(self, name: str, password_hash: bytes, salt: bytes) -> None:
        with self._cursor() as cursor:
            cursor.execute(self._sql("INSERT INTO operators(name, password_hash, salt, created) VALUES (?, ?, ?, ?) "
                                     "ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, "
                                     "salt = excluded.salt"), (name, password_hash, salt, time.time()))

    def operator(self, name: str) -> tuple[bytes, bytes] | None:
        """(password hash, salt) of an operator, None if there is none by that name."""
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT password_hash, salt FROM operators WHERE name = ?"), (name,))
            row = cursor.fetchone()
        return (bytes(row[0]), bytes(row[1])) if row else None

    def audit(self, operator: str, action: str, detail: dict[str, Any], when: float) -> None:
        with self._cursor() as cursor:
            cursor.execute(self._sql("INSERT INTO audit(time, operator, action, detail) VALUES (?, ?, ?, ?)"),
                           (when, operator, action, json.dumps(detail, ensure_ascii=False, sort_keys=True)))

    def audit_log(self, limit: int = 100) -> list[tuple[float, str, str, dict]]:
        with self._cursor() as cursor:
            cursor.execute(self._sql("SELECT time, operator, action, detail FROM audit ORDER BY time DESC LIMIT ?"),
                           (limit,))
            return [(float(t), operator, action, json.loads(detail)) for t, operator, action, detail in cursor.fetchall()]
