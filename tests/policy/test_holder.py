"""``PolicyHolder``: reloads from the file, keeps the old policy when the new one is bad."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import pytest

from gateway.policy.holder import PolicyHolder
from gateway.policy.loader import LoadedPolicy, PolicyError
from tests.policy.conftest import BASE, KNOWN, policy_text

V1 = policy_text()
V2 = policy_text(name="second")


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "policy.yaml"
    file.write_text(V1)
    return file


async def test_starts_with_the_file_and_refuses_a_bad_one(path: Path, tmp_path: Path) -> None:
    holder = PolicyHolder(path)
    assert holder.current.policy.name == "test-policy"
    assert holder.versions == {holder.current.version: V1}
    assert holder.status()["error"] is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\n")
    with pytest.raises(PolicyError):
        PolicyHolder(bad)


async def test_reload_puts_a_valid_change_in_force_after_the_hooks(path: Path) -> None:
    seen: list[tuple[str, str]] = []
    holder = PolicyHolder(path)
    first = holder.current

    async def hook(loaded: LoadedPolicy) -> None:
        seen.append(("async", holder.current.version))  # still the old one while hooks run

    holder.on_change_async = hook
    holder.on_change = lambda loaded: seen.append(("sync", loaded.version))
    assert await holder.reload() is False  # nothing changed
    path.write_text(V2)
    assert await holder.reload() is True
    assert holder.current.policy.name == "second"
    assert seen == [("async", first.version), ("sync", holder.current.version)]
    assert holder.versions == {first.version: V1, holder.current.version: V2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nname: [unclosed\n", "not valid YAML"),
        (policy_text(routes=[{"name": "r", "targets": ["ghost"]}]), "unknown target 'ghost'"),
        (policy_text(routes=[{"name": "low", "when": {"level_at_most": "internal"}, "targets": ["onprem"]}]),
         "no route matches requests at level 'confidential'"),  # a check error, not only a load error
        (policy_text(classification={**BASE["classification"], "entities": {"CREDIT_CRAD": "restricted"}}),
         "unknown entity type 'CREDIT_CRAD'"),
    ],
)  # fmt: skip
async def test_an_invalid_change_keeps_the_old_policy_and_says_why(path: Path, text: str, message: str) -> None:
    holder = PolicyHolder(path, known_entities=KNOWN)
    before = holder.current
    path.write_text(text)
    assert await holder.reload() is False
    assert holder.current is before
    assert holder.last_error is not None and holder.last_error_at is not None
    assert any(message in p.message for p in holder.last_error.problems)
    error = holder.status()["error"]
    assert isinstance(error, dict) and any(message in line for line in error["problems"])
    assert list(holder.versions) == [before.version]
    path.write_text(V1)  # put back: the error is over
    assert await holder.reload() is False
    assert holder.last_error is None and holder.status()["error"] is None


async def test_a_missing_file_keeps_the_old_policy(path: Path) -> None:
    holder = PolicyHolder(path)
    path.unlink()
    assert await holder.reload() is False
    assert holder.last_error is not None and "no such file" in str(holder.last_error)
    assert holder.current.policy.name == "test-policy"


async def test_a_failing_hook_keeps_the_old_policy(path: Path) -> None:
    def refuse(loaded: LoadedPolicy) -> None:
        raise RuntimeError("database down")

    holder = PolicyHolder(path, on_change=refuse)
    path.write_text(V2)
    assert await holder.reload() is False
    assert holder.current.policy.name == "test-policy"
    assert holder.last_error is not None and "database down" in str(holder.last_error)


async def test_a_comment_only_change_is_the_same_version(path: Path) -> None:
    holder = PolicyHolder(path)
    version = holder.current.version
    path.write_text("# a comment\n" + V1)
    assert await holder.reload() is True
    assert holder.current.version == version and holder.current.source.startswith("# a comment")
    assert list(holder.versions) == [version]


def test_reload_sync(path: Path) -> None:
    changes: list[str] = []
    holder = PolicyHolder(path, on_change=lambda loaded: changes.append(loaded.policy.name))
    path.write_text(V2)
    assert holder.reload_sync() is True and changes == ["second"]


async def test_reload_sync_refuses_an_async_hook(path: Path) -> None:
    async def hook(loaded: LoadedPolicy) -> None:
        return None

    holder = PolicyHolder(path, on_change_async=hook)
    with pytest.raises(RuntimeError, match="await reload"):
        holder.reload_sync()


async def until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_watch_reloads_when_the_file_changes(path: Path) -> None:
    holder = PolicyHolder(path)
    watcher = asyncio.create_task(holder.watch(0.01))
    try:
        await asyncio.sleep(0.05)
        path.write_text(V2)
        await until(lambda: holder.current.policy.name == "second")
        path.write_text("version: [broken\n")
        await until(lambda: holder.last_error is not None)
        assert holder.current.policy.name == "second"
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher


def _kubelet_write(volume: Path, stamp: str, text: str, *, mtime_ns: int | None = None) -> None:
    """What kubelet's atomic writer does to a ConfigMap volume: the files go into a new
    timestamped directory, then ``..data`` is repointed at it by a rename, and the old one goes."""
    fresh = volume / f"..{stamp}"
    fresh.mkdir()
    (fresh / "policy.yaml").write_text(text)
    if mtime_ns is not None:
        os.utime(fresh / "policy.yaml", ns=(mtime_ns, mtime_ns))
    data = volume / "..data"
    previous = os.readlink(data) if data.is_symlink() else None
    (volume / "..data_tmp").symlink_to(fresh.name)
    os.rename(volume / "..data_tmp", data)
    if not (volume / "policy.yaml").is_symlink():
        (volume / "policy.yaml").symlink_to("..data/policy.yaml")
    if previous is not None:
        shutil.rmtree(volume / previous)


async def test_watch_sees_a_configmap_symlink_swap(tmp_path: Path) -> None:
    volume = tmp_path / "policy-volume"
    volume.mkdir()
    _kubelet_write(volume, "2026_01_01_00_00_00.000000001", V1)
    path = volume / "policy.yaml"
    holder = PolicyHolder(path)
    before = path.stat()
    same_size = policy_text(name="same-length")  # as long as "test-policy": only the content differs
    assert len(same_size) == len(V1)
    watcher = asyncio.create_task(holder.watch(0.01))
    try:
        await asyncio.sleep(0.05)
        _kubelet_write(volume, "2026_01_01_00_01_00.000000002", same_size, mtime_ns=before.st_mtime_ns)
        assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
        await until(lambda: holder.current.policy.name == "same-length")
        _kubelet_write(volume, "2026_01_01_00_02_00.000000003", V2)
        await until(lambda: holder.current.policy.name == "second")
        assert holder.last_error is None
    finally:
        watcher.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watcher


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
async def test_sighup_reloads(path: Path) -> None:
    holder = PolicyHolder(path)
    loop = asyncio.get_running_loop()
    assert holder.install_sighup(loop) is True
    try:
        path.write_text(V2)
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: holder.current.policy.name == "second")
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
