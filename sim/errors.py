"""One root for every error mpsim reports to a user.

``exit_code`` follows the CLI convention: 1 for a failure while doing the job,
2 for bad usage or bad input (a file, a board, a firmware the user handed us).
The CLI prints ``mpsim: <message>`` and exits with it; no tracebacks.
"""

from __future__ import annotations


class SimError(Exception):
    exit_code = 1


class UsageError(SimError):
    """The user asked for something that cannot be done as asked."""

    exit_code = 2


class BoardError(UsageError):
    """Unknown board or malformed board file."""


class FirmwareError(UsageError):
    """Missing, unreadable or unsuitable firmware ELF."""


class LockError(UsageError):
    """Another process holds the flash file this command would write."""


class FlashConflict(SimError):
    """The flash file changed on disk since this board read it: saving would lose that update."""


class GuestFault(SimError):
    """The emulated CPU did something the board cannot do (bad access, bad instruction)."""

    # For the machine: (exception, CFSR bits) when the core takes this as a fault the
    # firmware can handle (BusFault, MemManage, UsageFault); None otherwise.
    arch: tuple[int, int] | None = None
    # What the board printed up to the fault that no reader took yet (its crash report).
    output: bytes = b""

    def __init__(self, message: str, pc: int | None = None, address: int | None = None,
                 access: str | None = None):
        self.pc, self.address, self.access = pc, address, access
        super().__init__(message)


class FlashError(SimError):
    """A flash operation broke the device's rules (alignment, range, program-only-clears-bits)."""

    def __init__(self, message: str, address: int | None = None, op: str | None = None):
        self.address, self.op = address, op
        super().__init__(message)


class ImageError(SimError):
    """A hibernate image is absent, corrupt, or does not match this firmware/board/geometry."""

    exit_code = 2


class ReplError(SimError):
    """The firmware raised an exception, or did not answer in time."""

    def __init__(self, message: str, output: str = ""):
        self.output = output
        super().__init__(message)


class ReplTimeout(ReplError):
    """No prompt came back before the deadline."""


class BoardStopped(ReplError):
    """The firmware stopped for good while the host waited for it: it exited through
    semihosting (``exit_status`` set) or spins in a ``b .`` loop (a FATAL halt).
    Nothing more will come, so the host says so at once instead of at its timeout."""

    def __init__(self, message: str, output: str = "", exit_status: int | None = None):
        self.exit_status = exit_status
        super().__init__(message, output)
