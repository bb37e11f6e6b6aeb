"""The policy in force, and how a new one replaces it without a restart.

``PolicyHolder.current`` is read by every request; a reload builds and checks
the new ``LoadedPolicy`` completely, runs the change hooks, and only then
swaps it in with one attribute assignment. A request therefore sees either the
old policy or the new one, never a mix, and a broken file never replaces a
working policy: the holder keeps serving the old one and records why
(``last_error``, ``last_error_at``, ``status()``).

The hooks run *before* the swap so that what they must do (record the
version's text in the ledger database, prepare adapters for new targets) is
done before any request is decided under the new version. A hook that raises
keeps the old policy, like an invalid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.policy.checks import check, errors
from gateway.policy.loader import LoadedPolicy, PolicyError, Problem, load_text

log = logging.getLogger("gateway.policy")

OnChange = Callable[[LoadedPolicy], None]
OnChangeAsync = Callable[[LoadedPolicy], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Candidate:
    digest: str
    loaded: LoadedPolicy | None
    problems: tuple[Problem, ...]


def validate_text(
    source: str, file: str, known_entities: frozenset[str] | None = None
) -> tuple[LoadedPolicy | None, list[Problem]]:
    """Load and check policy text: the policy (``None`` on any error) and every problem found."""
    try:
        loaded = load_text(source, file)
    except PolicyError as exc:
        return None, exc.problems
    problems = check(loaded, known_entities)
    return (None if errors(problems) else loaded), problems


class PolicyHolder:
    """Holds the policy in force and reloads it from its file.

    ``versions`` maps every version this holder has served to its text.
    ``on_change`` / ``on_change_async`` are called with each new version
    before it is put in force (not for the first one, which the caller has in
    hand as ``current``). The constructor raises ``PolicyError`` if the file
    cannot be used: a gateway does not start without a valid policy.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        known_entities: frozenset[str] | None = None,
        on_change: OnChange | None = None,
        on_change_async: OnChangeAsync | None = None,
    ) -> None:
        self.path = Path(path)
        self.known_entities = known_entities
        self.on_change = on_change
        self.on_change_async = on_change_async
        self.last_error: PolicyError | None = None
        self.last_error_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()
        candidate = self._prepare()
        if candidate.loaded is None:
            raise PolicyError(candidate.problems)
        self._current: LoadedPolicy = candidate.loaded
        self._digest = candidate.digest
        self.loaded_at = datetime.now(UTC)
        self.versions: dict[str, str] = {candidate.loaded.version: candidate.loaded.source}

    @property
    def current(self) -> LoadedPolicy:
        """The policy in force."""
        return self._current

    async def reload(self) -> bool:
        """Read the file again; put it in force if it changed and is valid.

        Returns whether a new policy was put in force. On failure the old
        policy stays and ``last_error`` says why; nothing is raised.
        """
        async with self._lock:
            candidate = await asyncio.to_thread(self._prepare)
            if candidate.digest == self._digest:
                self._clear_error()
                return False
            if candidate.loaded is None:
                self._fail(PolicyError(candidate.problems))
                return False
            try:
                if self.on_change_async is not None:
                    await self.on_change_async(candidate.loaded)
                if self.on_change is not None:
                    self.on_change(candidate.loaded)
            except Exception as exc:  # a failing hook must not take the gateway down
                log.exception("policy change hook failed; keeping version %s", self._current.version)
                problem = Problem(str(self.path), 1, 1, f"the new version could not be put in force: {exc}")
                self._fail(PolicyError([problem]))
                return False
            self._put_in_force(candidate)
            return True

    def reload_sync(self) -> bool:
        """``reload`` for callers without an event loop (scripts, tests).

        Only the synchronous ``on_change`` hook runs; refuses if an async hook is set.
        """
        if self.on_change_async is not None:
            raise RuntimeError("this holder has an async change hook: use 'await reload()'")
        return asyncio.run(self.reload())

    def status(self) -> dict[str, object]:
        """What ``GET /admin/policy`` shows: the version in force, its text, the last failed reload."""
        error = None
        if self.last_error is not None and self.last_error_at is not None:
            error = {
                "at": self.last_error_at.isoformat(),
                "problems": [str(p) for p in self.last_error.problems],
            }
        return {
            "path": str(self.path),
            "name": self._current.policy.name,
            "version": self._current.version,
            "loaded_at": self.loaded_at.isoformat(),
            "versions": list(self.versions),
            "error": error,
            "source": self._current.source,
        }

    async def watch(self, interval_s: float = 2.0) -> None:
        """Poll the file every ``interval_s`` seconds and reload when its content changes.

        Runs until cancelled. The file's identity is checked first (where
        its symlinks lead, its inode, modification time and size); the
        content hash decides, so touching the file, or writing back the same
        text, changes nothing, and a broken file is reported once, not at
        every poll.

        A Kubernetes ConfigMap volume is updated by a symlink swap: kubelet
        writes the new files into a fresh timestamped directory and renames
        the ``..data`` link to point at it, while ``policy.yaml`` stays a link
        to ``..data/policy.yaml``. The link target and the inode change even
        when the size and the modification time happen to match, so the swap
        is seen. (A ``subPath`` mount is never updated by kubelet: mount the
        ConfigMap as a directory.)
        """
        seen = self._stat()
        while True:
            await asyncio.sleep(interval_s)
            stat = self._stat()
            if stat == seen:
                continue
            seen = stat
            await self.reload()

    def install_sighup(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Reload on SIGHUP. Returns False where the platform has no SIGHUP."""
        sighup = getattr(signal, "SIGHUP", None)
        if sighup is None:
            return False
        tasks: set[asyncio.Task[bool]] = set()

        def on_signal() -> None:
            task = loop.create_task(self.reload())
            tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(tasks.discard)

        try:
            loop.add_signal_handler(sighup, on_signal)
        except (NotImplementedError, RuntimeError):
            return False
        return True

    # -- internals ---------------------------------------------------------------------------

    def _prepare(self) -> _Candidate:
        with self._thread_lock:
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                reason = "no such file" if isinstance(exc, FileNotFoundError) else f"cannot read the file: {exc}"
                return _Candidate(f"unreadable:{reason}", None, (Problem(str(self.path), 1, 1, reason),))
            digest = hashlib.sha256(raw).hexdigest()
            try:
                source = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                problem = Problem(str(self.path), 1, 1, f"cannot read the file: {exc}")
                return _Candidate(digest, None, (problem,))
            loaded, problems = validate_text(source, str(self.path), self.known_entities)
            return _Candidate(digest, loaded, tuple(problems))

    def _put_in_force(self, candidate: _Candidate) -> None:
        assert candidate.loaded is not None
        loaded = candidate.loaded
        self.versions.setdefault(loaded.version, loaded.source)
        previous = self._current.version
        self._current = loaded  # the swap: one assignment
        self._digest = candidate.digest
        self.loaded_at = datetime.now(UTC)
        self._clear_error()
        log.info("policy %s in force (was %s)", loaded.version, previous)

    def _fail(self, error: PolicyError) -> None:
        self.last_error = error
        self.last_error_at = datetime.now(UTC)
        log.error("policy reload refused; keeping version %s:\n%s", self._current.version, error)

    def _clear_error(self) -> None:
        self.last_error = None
        self.last_error_at = None

    def _stat(self) -> tuple[str, int, int, int, int] | None:
        with contextlib.suppress(OSError):
            stat = self.path.stat()  # follows the links: the file they lead to now
            return os.path.realpath(self.path), stat.st_ino, stat.st_mtime_ns, stat.st_size, stat.st_ctime_ns
        return None
