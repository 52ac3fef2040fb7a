"""Run-state hibernate and resume for a ``sim.device.Board`` (its small hooks call these)."""

from __future__ import annotations

import time

from ..errors import ImageError
from ..image import HibernateImage, ImageKind, decode
from ..slots import Partition
from . import image as run_image
from .preerase import erase_next, execute, plan_write


def save(board):
    """Hibernate the board where it stands (mid-program is fine); the board keeps
    running afterwards, so the next slot is erased at once for the next hibernate."""
    from ..hibernate import SaveReport
    t0 = time.perf_counter()
    machine, flash = board.machine, board.flash
    image = run_image.capture(machine)
    part = Partition(flash)
    image.sequence = part.next_sequence()
    data = image.encode()
    plan = plan_write(part, data)
    ops0, busy0 = flash.ops_count, flash.busy_us
    slot = execute(part, plan, data)
    report = SaveReport(image_bytes=len(data), heap_bytes=image.heap.heap_end - image.heap.heap_start,
                        used_heap_bytes=0, ctx_bytes=image.ctx_size,
                        slot=slot, sequence=plan.sequence, sectors_erased=plan.erases(),
                        flash_ops=flash.ops_count - ops0, flash_time_us=flash.busy_us - busy0,
                        host_time_s=time.perf_counter() - t0)
    erase_next(part)
    board.store.save()
    return report


def newest_run_state(board, image: HibernateImage | None) -> HibernateImage | None:
    """The image ``Board.resume`` would take, when it is a run-state image: the one
    given, else the newest image in flash that decodes (older ones are the
    prompt-time controller's to choose among)."""
    if image is None:
        for _info, data in Partition(board.flash).images_newest_first():
            try:
                image = decode(data)
                break
            except ImageError:
                continue
    return image if image is not None and image.kind is ImageKind.RUN_STATE else None


def resume(board, image: HibernateImage):
    """Power on into a run-state image: the program continues where it was; then,
    power being good, erase the next slot so a power-fail hibernate only programs.
    The erase reaches the flash file with the next save (the next hibernate, or the
    board's close): a crash of mpsim before that leaves the file as a power cut
    before the erase would, every image in it whole (the file is never written
    here: ~40 ms of each serve --power-fail cycle was this save)."""
    from ..hibernate import ResumeReport
    t0 = time.perf_counter()
    run_image.restore(board.machine, image, board.heap)
    erase_next(Partition(board.flash))
    return ResumeReport(sequence=image.sequence, image_bytes=image.encoded_size or len(image.encode()),
                        used_heap_bytes=0,
                        host_time_s=time.perf_counter() - t0)


def latest_image(board) -> tuple[HibernateImage | None, list[str]]:
    """The image a resume takes: the newest one when it is a run-state image this
    board can take, else what the prompt-time controller picks (which skips
    run-state images: they are not its kind)."""
    running = newest_run_state(board, None)
    if running is not None:
        try:
            run_image.check_resumable(board.machine, running, board.heap)
            return running, []
        except ImageError as e:
            image, skipped = board.hibernator.latest_usable_image()
            return image, [f"run-state image #{running.sequence}: {e}"] + skipped
    return board.hibernator.latest_usable_image()
