"""Virtual time for the board, in nanoseconds since power-on.

Two modes, because they answer different needs:

* default ("host-paced"): while the CPU runs, virtual time advances with host
  time (like QEMU without -icount) -- the CPU time of the thread that runs the
  emulation, so a loaded host that deschedules the simulator for 10 ms does not
  make 10 ms of guest time pass at one instruction (on an idle host the two
  are the same); when the firmware sleeps (WFI) or busy-polls
  for input, the machine jumps time to the next timer deadline, so idle costs no
  host time and ``time.sleep(10)`` finishes in milliseconds.
* deterministic: virtual time is derived from executed instructions only (one
  instruction = one cycle of the board's clock_hz), so the same inputs give the
  same outputs on every run. The machine runs the CPU in instruction-counted
  slices and calls ``add_cycles`` after each.

Time never advances while the machine is not running (between ``run`` calls).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Callable

NS = 1_000_000_000

if hasattr(time, "pthread_getcpuclockid"):
    _thread_clock = time.pthread_getcpuclockid
    _host_ns = time.clock_gettime_ns
else:                                     # no per-thread CPU clocks (e.g. macOS): wall time
    def _thread_clock(ident: int) -> int:
        return 0

    def _host_ns(_clock: int) -> int:
        return time.perf_counter_ns()


class VirtualClock:
    def __init__(self, clock_hz: int, deterministic: bool = False):
        self.clock_hz = clock_hz
        self.deterministic = deterministic
        self._ns = 0
        self._host_base: int | None = None     # host_ns() at start of a host-paced slice
        # Deterministic, while a slice runs: cycles executed so far in it, when the
        # engine can tell (instruction counter); the slice is charged at its end.
        self.progress: Callable[[], int] | None = None
        self._cpu_clock = (threading.get_ident(), _thread_clock(threading.get_ident()))

    def now(self) -> int:
        if self._host_base is not None:
            return self._ns + (_host_ns(self._cpu_clock[1]) - self._host_base)
        if self.progress is not None:
            return self._ns + self.progress() * NS // self.clock_hz
        return self._ns

    def host_ns(self) -> int:
        """The host clock that paces running slices: CPU time of the emulating thread."""
        return _host_ns(self._cpu_clock[1])

    # -- host-paced slices ------------------------------------------------------
    def start_slice(self) -> None:
        if not self.deterministic:
            me = threading.get_ident()
            if self._cpu_clock[0] != me:
                self._cpu_clock = (me, _thread_clock(me))
            self._host_base = _host_ns(self._cpu_clock[1])

    def end_slice(self) -> None:
        if self._host_base is not None:
            self._ns += _host_ns(self._cpu_clock[1]) - self._host_base
            self._host_base = None

    def host_ns_until(self, t: int) -> int:
        """Host nanoseconds from now until virtual time ``t`` (host-paced mode; as
        wall time an upper bound: a slice timer set to it never fires late)."""
        return max(0, t - self.now())

    def exclude(self, host_ns: int) -> None:
        """Do not count ``host_ns`` of the running slice as guest time (host-side
        work such as exception entry done in Python hooks)."""
        if self._host_base is not None:
            self._host_base += host_ns

    # -- explicit advances ---------------------------------------------------------
    def add_cycles(self, n: int) -> None:
        self._ns += n * NS // self.clock_hz

    def cycles_until(self, t: int) -> int:
        return max(1, -(-(t - self._ns) * self.clock_hz // NS))

    def skip(self, ns: int) -> None:
        """Move time forward by ``ns`` at once, also in the middle of a slice."""
        self._ns += ns

    def advance_to(self, t: int) -> None:
        if t > self._ns:
            self._ns = t

    def set(self, t: int) -> None:
        self._ns = t


class SliceTimer:
    """Stops the CPU at a host-time deadline without any per-instruction hook.

    One persistent thread per machine (Unicorn's own ``timeout=`` starts a thread
    per ``emu_start``, ~85 us each). ``emu_stop`` is called under the lock that
    ``disarm`` takes, so a late firing can never hit the next slice; if a stop
    lands just before emulation starts (and is ignored by Unicorn) the timer
    fires again every millisecond until disarmed.

    Arming is cheap: the thread is woken only when the new deadline is earlier
    than the one it already sleeps towards (a wake-up is a thread switch and a
    GIL hand-over, ~0.1 ms; short slices, e.g. one per SysTick tick while the
    guest sleeps, re-arm thousands of times a second). A thread that wakes for
    an older, later-replaced deadline just sleeps again.
    """

    RETRY_S = 0.001

    def __init__(self, stop: "callable"):
        import threading
        # Weakly: the thread must not keep its machine (engine, guest RAM) alive when
        # nobody closed it; the machine's finalizer closes the timer then.
        self._stop = weakref.WeakMethod(stop)
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._sleeping_until: float | None = None   # what the thread waits for (None: forever)
        self._closed = False
        self.fired = False
        self._thread = threading.Thread(target=self._loop, name="mpsim-slice-timer", daemon=True)
        self._thread.start()

    def arm(self, host_seconds: float) -> None:
        deadline = time.perf_counter() + host_seconds
        with self._cond:
            self.fired = False
            self._deadline = deadline
            s = self._sleeping_until
            if s is None or deadline < s:
                self._cond.notify()

    def disarm(self) -> bool:
        with self._cond:
            self._deadline = None
            return self.fired

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._sleeping_until = None
                    self._cond.wait()
                    continue
                remaining = self._deadline - time.perf_counter()
                if remaining > 0:
                    self._sleeping_until = self._deadline
                    self._cond.wait(remaining)
                    continue
                self.fired = True
                stop = self._stop()
                if stop is not None:
                    stop()
                self._deadline = time.perf_counter() + self.RETRY_S
