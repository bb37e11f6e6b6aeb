"""Start-up checks of ``gateway serve``: a configuration that cannot work ends in one line, never a traceback.

They run in the parent process before any worker starts and before torch, the
classifier or a model is loaded, so a bad setting is reported in a second (not
after minutes of loading), once (not once per worker), and as one line on
stderr with a non-zero exit (``gateway serve`` exits 1; a configuration file
that does not load exits 2, from ``cli.common.config_from``). What is checked:

- the policy file can be read and is valid (the checks the policy holder runs);
- the cache's key material, when set, is usable (``GATEWAY_CACHE_SECRET`` /
  ``GATEWAY_CACHE_KEY``: both or neither, long enough, base64 of 32 bytes);
- the database can be reached and its schema brought up to date (a remote
  database is required once it is configured: nothing is recorded without it).

The migrations therefore run once here, not in every worker at the same moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.config import Config


class StartupError(Exception):
    """The gateway cannot start; the message is one line that says why and what to do."""


def preflight(config: Config, environ: Mapping[str, str]) -> None:
    """Raise ``StartupError`` for the first check that fails."""
    check_policy(config.policy)
    check_cache_keys(environ)
    check_pseudonym_key(environ)
    check_database(config.database_url)


def check_policy(path: str) -> None:
    from gateway.classify import KNOWN_ENTITIES
    from gateway.policy.checks import errors
    from gateway.policy.holder import validate_text

    try:
        source = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StartupError(f"the policy file {path} does not exist (GATEWAY_POLICY or 'policy:')") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StartupError(f"the policy file {path} cannot be read: {reason}") from None
    _, problems = validate_text(source, path, KNOWN_ENTITIES)
    found = errors(problems)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise StartupError(f"the policy is not valid: {found[0]}{more}; run 'gateway policy validate {path}'")


def check_cache_keys(environ: Mapping[str, str]) -> None:
    from gateway.cache.keyring import CacheKeyring, KeyringError

    try:
        CacheKeyring.from_env(environ)
    except KeyringError as exc:
        raise StartupError(f"cache keys: {exc}") from None


def check_pseudonym_key(environ: Mapping[str, str]) -> None:
    from gateway.config import ConfigError
    from gateway.pseudonymize import PseudonymKey

    try:
        PseudonymKey.from_env(environ)
    except ConfigError as exc:
        raise StartupError(f"pseudonymisation: {exc}") from None


def check_database(url: str) -> None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from gateway.ledger.store import Database, StoreUnavailable

    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - any unparsable URL gets the same answer
        raise StartupError("database_url (or DATABASE_URL) is not a database URL") from None
    try:
        db = Database(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, a driver or the file system: all mean "cannot start"
        raise StartupError(f"cannot open the database {shown}: {type(exc).__name__}") from None
    try:
        try:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            raise StartupError(f"cannot reach the database {shown}: {_reason(exc)}") from None
        try:
            db.create_schema()
        except StoreUnavailable as exc:
            raise StartupError(f"cannot prepare the database {shown}: {exc}") from None
    finally:
        db.close()


def _reason(exc: Exception) -> str:
    """The driver's own first line (libpq's never holds the password), else the error's type."""
    original = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    return lines[0][:200] if lines else type(original).__name__
