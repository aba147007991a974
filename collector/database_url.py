"""Database URLs as people see them: the file or server one names, never its credentials."""

from __future__ import annotations

from pathlib import Path


def database_address(url: str) -> str:
    """Where a database URL points, without its user name and password (nor a `password=` parameter):
    for logs and errors. One whose credentials are unclear (`credentials_unclear`), which `CollectorDB`
    refuses, is not shown at all."""
    if url.startswith("sqlite:"):
        return str(sqlite_file(url))  # no credentials
    if credentials_unclear(url):
        return "a database (its URL not shown: the user name or password needs escapes)"
    location, question, query = url.partition("://")[2].partition("?")
    kept = "&".join(part for part in query.split("&") if part.partition("=")[0] != "password")
    return location.rpartition("@")[2] + (question if kept else "") + kept


def sqlite_file(url: str) -> Path:
    """The file of a SQLite URL, as SQLAlchemy reads one: `sqlite:///relative.db`, `sqlite:////absolute.db`."""
    return Path(url.removeprefix("sqlite:///").removeprefix("sqlite://"))


def credentials_unclear(url: str) -> bool:
    """Whether a user name or password holds a raw '@', '/', '?' or '#', which ends it early: libpq then
    reads part of the password as the host or the database, and its errors (and ours) would show it."""
    rest = url.partition("://")[2]
    location, _, query = rest.partition("?")  # a fragment holding '@' is caught below; one without changes nothing
    authority = location.partition("/")[0]
    in_query = any("@" in part.partition("=")[0] for part in query.split("&"))  # a value may hold '@'; a key not
    after_fragment = "@" in rest.partition("#")[2]
    return authority.count("@") > 1 or ("@" in location and "@" not in authority) or in_query or after_fragment
