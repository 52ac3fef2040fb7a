"""``monitor`` commands for a board that no serial bridge owns (``mpsim repl``):
the same requests as serve's control socket, carried out with ``Board``'s own
methods, so the same safety rules apply (hibernate settles the REPL first; a
board not at its prompt gets a run-state image). ``mpsim serve`` passes its bridge's
``command`` instead, which also keeps the bridge's queued input consistent."""

from __future__ import annotations

from typing import Callable

from ..errors import SimError


def board_monitor(board) -> Callable[[str], str]:
    def run(word: str) -> str:
        try:
            if word == "hibernate":
                try:
                    r, kind = board.hibernate(), ""
                except SimError as e:          # a program runs: save its run state (sim.runstate)
                    if "not idle" not in str(e):
                        raise
                    r, kind = board.hibernate(run_state=True), "run-state "
                return (f"ok hibernated {kind}image #{r.sequence} ({r.image_bytes} B) "
                        f"in {r.host_time_s * 1000:.1f} ms")
            if word == "power-cycle":
                r = board.hibernate()
                board.power_cycle()
                rr = board.resume()
                return (f"ok hibernated image #{r.sequence}, power cut, resumed image #{rr.sequence} "
                        f"in {rr.host_time_s * 1000:.1f} ms")
            if word == "resume":
                image, skipped = board.hibernator.latest_usable_image()
                if image is None:
                    return f"error no valid hibernate image to resume ({'; '.join(skipped) or 'none saved'})"
                board.power_cycle()
                rr = board.resume(image)
                return f"ok resumed image #{rr.sequence} in {rr.host_time_s * 1000:.1f} ms"
            if word == "reset":
                board.machine.reset()
                return "ok reset"
            return f"error unknown command {word!r}"
        except SimError as e:
            return f"error {e}"
    return run
