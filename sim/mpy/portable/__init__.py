"""The interpreter state in a form another firmware can load (resume after a firmware update).

A hibernate image holds the heap as bytes: pointers into the firmware (type objects,
builtins, ROM qstrs by number) make it loadable only by the firmware that wrote it.
This package turns it into a portable form and back:

- ``export``: the precise heap walk (sim.mpy.walk) of the old image, every reachable
  block with its role and each word that refers to something named symbolically: a
  heap block (by index), a firmware symbol (by name), a qstr (by text, wherever the
  object stores one: object slots, type names, bytecode operands, tracebacks);
- ``load``: the same blocks laid out in the new firmware's heap, each reference
  resolved in the new firmware, the qstrs the ROM lacks interned into one new heap
  qstr pool, layouts that changed converted (raw code 1.22 -> 1.23), every hash
  table rebuilt with the new hashes, and the result walked again with the new
  firmware: anything it does not classify exactly refuses the migration;
- ``migrate``: the controller step: a normal image for the new firmware.

What cannot move exactly is refused up front, in one line naming the object:
native code, a type or builtin the new firmware lacks, another bytecode generation.
"""

from ...errors import SimError


class MigrationError(SimError):
    """The state cannot be carried to the new firmware exactly (nothing was changed)."""

    exit_code = 2


class GenerationError(MigrationError):
    """The image's firmware is of a bytecode generation mpsim does not migrate from or to
    (the CLI then treats the image as any image of another firmware: skipped, kept)."""
