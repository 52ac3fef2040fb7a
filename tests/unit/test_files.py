"""Flash files handled like a careful database: symlinks, permissions, stale
temporary files, non-regular files, size caps, one writer per file, no lost update.
Real files, real FIFOs, /dev/zero, and real processes for the lock."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sim import files
from sim.errors import FlashConflict, LockError, UsageError
from sim.flash_store import FlashStore
from sim.peripherals.nor_flash import NorFlash

SIZE = 0x10000
REPO = Path(__file__).resolve().parents[2]


def store_at(path, **kw) -> FlashStore:
    return FlashStore(NorFlash.standalone(size=SIZE, sector_size=4096, page_size=256), "testboard", path, **kw)


def saved(path, first: bytes = b"v1") -> FlashStore:
    s = store_at(path)
    s.load()
    s.flash.program(0, first)
    s.save()
    return s


# -- writing ---------------------------------------------------------------------------------
def test_a_symlinked_flash_stays_a_link_and_its_target_is_replaced(tmp_path):
    real = tmp_path / "data" / "real.bin"
    real.parent.mkdir()
    saved(real).close()
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    s = store_at(link)
    assert s.load()
    s.flash.program(2, b"v2")
    s.save()
    s.close()
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes()[:4] == b"v1v2"


def test_a_save_keeps_the_files_mode_and_new_files_are_0600(tmp_path):
    path = tmp_path / "f.bin"
    s = saved(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o640)
    s.flash.program(2, b"v2")
    s.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_stale_temporary_files_of_dead_processes_are_removed_on_open(tmp_path):
    path = tmp_path / "f.bin"
    saved(path).close()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = [tmp_path / f".f.bin.{dead_pid}.abcd1234.tmp", tmp_path / ".f.bin.x8Yz_q1w.tmp"]   # new and old naming
    live = tmp_path / f".f.bin.{os.getppid()}.abcd1234.tmp"                                    # a live process's
    other = tmp_path / f".g.bin.{dead_pid}.abcd1234.tmp"                                       # another file's
    for p in (*stale, live, other):
        p.write_bytes(b"x" * 100)
    s = store_at(path)
    s.load()
    s.close()
    assert not any(p.exists() for p in stale)
    assert live.exists() and other.exists()


def test_a_failed_write_leaves_no_temporary_file_and_the_old_contents(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    s = saved(path)
    s.flash.program(2, b"v2")

    def broken(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(UsageError, match="No space left"):
        s.save()
    assert path.read_bytes()[:4] == b"v1\xff\xff"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".f.bin.lock", "f.bin"]


# -- reading ---------------------------------------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "fifo.bin"
    os.mkfifo(p)
    return p


def test_a_fifo_is_refused_at_once_not_read(fifo):
    s = store_at(fifo)
    with pytest.raises(UsageError, match="fifo.bin is a FIFO, not a regular file"):
        s.load()
    with pytest.raises(UsageError, match="is a FIFO"):
        files.read_bytes(fifo, "board file")


@pytest.mark.parametrize("what", ["board file", "script", "firmware", "snapshot"])
def test_a_device_or_a_directory_is_refused(tmp_path, what):
    with pytest.raises(UsageError, match="/dev/zero is a character device, not a regular file"):
        files.read_bytes("/dev/zero", what)
    with pytest.raises(UsageError, match="is a directory, not a regular file"):
        files.read_bytes(tmp_path, what)


def test_reads_are_capped_by_what_the_file_is(tmp_path):
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.truncate(files.LIMITS["board file"] + 1)       # sparse: no real disk
    with pytest.raises(UsageError, match="more than any board file can be"):
        files.read_bytes(big, "board file")


def test_the_flash_image_of_another_size_is_refused_and_kept(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"\x01" * (SIZE + 4096))
    s = store_at(path)
    with pytest.raises(UsageError, match="expects 65536"):
        s.load()
    s.close()
    assert path.read_bytes() == b"\x01" * (SIZE + 4096)


# -- one writer --------------------------------------------------------------------------------
HOLD = textwrap.dedent("""
    import sys, time
    from sim.flash_store import FlashStore
    from sim.peripherals.nor_flash import NorFlash
    s = FlashStore(NorFlash.standalone(size=0x10000, sector_size=4096, page_size=256), "t", sys.argv[1])
    s.load()
    print("held", flush=True)
    sys.stdin.readline()
""")


def holder(path):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "--marker"], cwd=REPO, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "held\n"
    return p


def test_a_second_writer_process_is_told_who_holds_the_file(tmp_path):
    path = tmp_path / "f.bin"
    p = holder(path)
    try:
        s = store_at(path)
        with pytest.raises(LockError) as e:
            s.load()
        assert f"in use by pid {p.pid} (" in str(e.value) and "--marker" in str(e.value)
        assert "--wait-lock" in str(e.value) and e.value.exit_code == 2
        ro = store_at(path, writer=False)             # flash info / export: no lock needed
        ro.load()
    finally:
        p.stdin.close()
        p.wait(10)
    s.load()                                          # released when the holder exits
    s.close()


def test_wait_lock_waits_for_the_holder(tmp_path):
    path = tmp_path / "f.bin"
    p = holder(path)
    waiter = subprocess.Popen([sys.executable, "-c", HOLD.replace('"t", sys.argv[1])', '"t", sys.argv[1], '
                                                                  'wait_lock=True)'), str(path)],
                              cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # The waiter cannot have the lock while the holder lives: it says "held" only after.
        p.stdin.close()
        p.wait(10)
        assert waiter.stdout.readline() == "held\n"
    finally:
        waiter.stdin.close()
        waiter.wait(10)


def test_a_save_over_a_file_changed_since_it_was_read_is_refused(tmp_path):
    """In one process the lock is shared; a stale board still cannot overwrite a newer image."""
    path = tmp_path / "f.bin"
    a = saved(path)
    b = store_at(path)
    b.load()
    b.flash.program(2, b"bb")
    b.save()
    a.flash.program(4, b"aa")
    with pytest.raises(FlashConflict, match="changed on disk since this board read it"):
        a.save()
    assert path.read_bytes()[:6] == b"v1bb\xff\xff"
    a.close()
    b.close()
