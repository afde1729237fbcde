"""A killed `sgvb prepare` resumed gives the same bytes as an uninterrupted one, wherever the kill came.

Each case forks a child that runs the prepare and SIGKILLs itself at one write point (a frame or part entry
written, a file renamed into place), then the same prepare runs again here and its zip and manifest are
compared with an uninterrupted run's. A killed run's pool workers must stop with it.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import time
import zipfile
from pathlib import Path

import pytest

from benchmarks.data.prepare import PrepareError, prepare_dataset, staging_dir
from benchmarks.errors import disk_error_message
from registry.files import TEMP_GLOB, _temp_prefix, atomic_folder, atomic_path, atomic_write_bytes
from tests.test_prepare import write_frames

R = 16
KILLED_AT: list[float] = []  # when run_killed's watcher sent its SIGKILL


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))


def quiet(*_):
    pass


def sky(root: Path, clips: int = 3, frames: int = 2, w: int = 24, h: int = 16) -> Path:
    for c in range(clips):
        n = 1 if c == 0 else frames  # the first part comes early: a second worker is then inside a longer one
        write_frames(root / "sky_train" / f"v{c // 2}" / f"v{c // 2}_{c}", n, w=w, h=h, seed=c)
    return root


def comparable(out: Path) -> tuple[bytes, dict]:
    manifest = json.loads(out.with_suffix(".json").read_text())
    for clock in ("created", "elapsed_s"):
        manifest.pop(clock)
    return out.read_bytes(), manifest


def run_killed(target, *, at: int | None = None, watch: Path | None = None, slow: float = 0.0) -> int:
    """Run ``target`` in a forked child that SIGKILLs itself at its ``at``-th write (or that is SIGKILLed as soon as
    a file (the first part being written) appears in the folder ``watch``, as a user would kill it);
    returns the writes it made when it finished without being killed (-1 when killed). ``slow``: seconds each
    write waits (the child's pool workers inherit the patch, so they are still busy when their run is killed)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count the write points, die at the chosen one
        os.close(read)
        calls = 0
        real_writestr, real_replace = zipfile.ZipFile.writestr, os.replace

        def point():
            nonlocal calls
            calls += 1
            time.sleep(slow)
            if at is not None and calls == at:
                os.kill(os.getpid(), signal.SIGKILL)

        def writestr(self, *args, **kwargs):
            point()
            return real_writestr(self, *args, **kwargs)

        def replace(*args, **kwargs):
            point()
            return real_replace(*args, **kwargs)

        zipfile.ZipFile.writestr, os.replace = writestr, replace
        code = 0
        try:
            target(quiet)
        except BaseException:
            code = 1
        os.write(write, str(calls).encode())
        os._exit(code)
    os.close(write)
    if watch is not None:
        deadline = time.monotonic() + 30
        while not (watch.is_dir() and any(watch.iterdir())) and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
        KILLED_AT.append(time.time())
    _, status = os.waitpid(pid, 0)
    said = os.read(read, 64)
    os.close(read)
    if os.WIFSIGNALED(status):
        return -1
    assert os.WEXITSTATUS(status) == 0, "the child's prepare failed"
    return int(said)


def test_resume_after_a_kill_at_every_write_is_byte_identical(tmp_path):
    raw = sky(tmp_path / "raw")
    reference = tmp_path / "ref" / "sky.zip"
    writes = run_killed(lambda log: prepare_dataset("sky_timelapse", raw, reference, resolution=R, workers=1, log=log))
    assert writes > 20  # frames, part infos, part renames, the zip's entries, the zip and manifest renames
    expected = comparable(reference)
    for k in range(1, writes + 1):
        out = tmp_path / f"k{k}" / "sky.zip"
        assert (
            run_killed(lambda log: prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=log), at=k)
            == -1
        )
        if not out.exists():
            time.sleep(1.05 if k == writes // 2 else 0)  # once, a resume in another second than the reference
            prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=quiet)
        assert comparable(out) == expected, f"killed at write {k} of {writes}"
        assert not staging_dir(out).exists()


def test_a_killed_runs_workers_stop_and_the_resume_is_identical(tmp_path):
    raw = sky(tmp_path / "raw", clips=16, frames=6, w=320, h=180)
    reference = tmp_path / "ref" / "sky.zip"
    prepare_dataset("sky_timelapse", raw, reference, resolution=R, workers=2, log=quiet)
    out = tmp_path / "run" / "sky.zip"
    assert (
        run_killed(
            lambda log: prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=2, log=log),
            watch=staging_dir(out) / "videos",
            slow=0.05,
        )
        == -1
    )
    parts = staging_dir(out) / "videos"
    time.sleep(2.0)
    # a part finishes in >= 0.3 s (6 frames, 0.05 s each): workers that outlived the kill would rename parts well
    # after it; 0.5 s of slack keeps a rename already under way at the kill (slow under load) from counting
    late = [p.name for p in parts.glob("*.zip") if p.stat().st_ctime > KILLED_AT[-1] + 0.5]  # renamed in later
    assert not late, f"a killed run's workers went on writing parts: {late}"
    prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=2, log=quiet)
    time.sleep(0.5)
    assert not staging_dir(out).exists(), "something wrote into the staging folder after the resumed run"
    assert comparable(out) == comparable(reference)


@pytest.mark.parametrize("damage", ["frame_missing", "truncated", "not_a_zip"])
def test_a_part_that_does_not_verify_is_rendered_again(tmp_path, damage):
    raw = sky(tmp_path / "raw", clips=3, frames=3)
    reference = tmp_path / "ref" / "sky.zip"
    prepare_dataset("sky_timelapse", raw, reference, resolution=R, workers=1, log=quiet)
    out = tmp_path / "run" / "sky.zip"
    assert (
        run_killed(lambda log: prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=log), at=10)
        == -1
    )
    part = staging_dir(out) / "videos" / "v0_1.zip"  # a finished part (the kill came in the third video)
    data = part.read_bytes()
    if damage == "frame_missing":  # a zip that reads well but lacks a frame its info.json counts
        with zipfile.ZipFile(part) as zf:
            members = {n: zf.read(n) for n in zf.namelist() if n != "000002.jpg"}
        with zipfile.ZipFile(part, "w") as zf:
            for name, content in members.items():
                zf.writestr(name, content)
    else:
        part.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a zip")
    lines = []
    prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=lines.append)
    assert lines[0].startswith("resuming: 1 of 3 videos")
    assert comparable(out) == comparable(reference)


def test_a_full_disk_names_the_part_being_written_not_the_video(tmp_path, monkeypatch):
    raw = sky(tmp_path / "raw", clips=1, frames=2)
    out = tmp_path / "run" / "sky.zip"
    real = zipfile.ZipFile.writestr

    def full(self, name, *args, **kwargs):
        if str(getattr(name, "filename", name)).endswith(".jpg"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a write on a full disk raises: no file name
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    with pytest.raises(OSError) as caught:
        prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=quiet)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(staging_dir(out) / "videos" / "v0_0.zip")
    line = disk_error_message(caught.value)
    assert str(staging_dir(out)) in line and str(raw) not in line and "No space left" in line


def test_a_killed_writers_temp_file_goes_at_the_next_write_of_the_same_output(tmp_path):
    target = tmp_path / "out" / "stats.npz"
    other = tmp_path / "out" / "other.npz"

    def killed_inside(path: Path, folder: bool = False) -> None:
        pid = os.fork()
        if pid == 0:  # as `sgvb stats` / `convert` / `convert-checkpoint` killed while writing their output
            with atomic_folder(path) if folder else atomic_path(path) as tmp:
                if not folder:
                    tmp.write_bytes(b"half")
                os.kill(os.getpid(), signal.SIGKILL)
        os.waitpid(pid, 0)

    killed_inside(target)
    killed_inside(other)
    killed_inside(tmp_path / "out" / "frames", folder=True)
    live = target.parent / f"{_temp_prefix(target)}live.npz"  # this process: alive
    foreign = target.parent / f".{target.name}.tmp-otherhost-1-x.npz"  # another host's writer on a shared disk
    live.write_bytes(b"writing")
    foreign.write_bytes(b"writing")
    stale = sorted(p.name for p in target.parent.glob(TEMP_GLOB))
    assert len(stale) == 5
    atomic_write_bytes(target, b"whole")
    atomic_write_bytes(tmp_path / "out" / "elsewhere.npz", b"x")
    with atomic_folder(tmp_path / "out" / "frames"):
        pass
    left = sorted(p.name for p in target.parent.glob(TEMP_GLOB))
    assert target.read_bytes() == b"whole"
    assert len(left) == 3 and live.name in left and foreign.name in left  # the other output's temp is not ours
    assert [n for n in left if n.startswith(f".{other.name}.tmp-")]


def test_a_kill_after_the_zip_is_in_place_leaves_no_staging_folder_for_long(tmp_path):
    """SIGKILL between the zip's rename and the staging folder's removal: the next prepare into that folder sweeps
    it (the output is whole, nothing would resume the parts), and a prepare into the same output says it exists."""
    raw = sky(tmp_path / "raw", clips=2, frames=2)
    out = tmp_path / "run" / "sky.zip"
    pid = os.fork()
    if pid == 0:  # the child: dies as it starts removing the staging folder
        import benchmarks.data.prepare.build as build

        real = build.shutil.rmtree

        def killed(path, *args, **kwargs):
            if Path(path) == staging_dir(out):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, *args, **kwargs)

        build.shutil.rmtree = killed
        try:
            prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=quiet)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert out.is_file() and staging_dir(out).is_dir()  # the kill came after the rename
    with pytest.raises(PrepareError, match="already exists"):
        prepare_dataset("sky_timelapse", raw, out, resolution=R, workers=1, log=quiet)
    assert not staging_dir(out).exists()

    other = tmp_path / "run" / "other.zip"  # a prepare of another output in the folder sweeps it too
    staging_dir(out).mkdir()
    (staging_dir(other)).mkdir()  # an unfinished prepare of an output not there yet: kept for its resume
    prepare_dataset("sky_timelapse", raw, tmp_path / "run" / "third.zip", resolution=R, workers=1, log=quiet)
    assert not staging_dir(out).exists() and staging_dir(other).is_dir()
