"""Run the core's own makeqstrdefs.py "split" over many preprocessed sources in one process.

usage: split_pieces.py MAKEQSTRDEFS BUILD_DIR MODES FILE.i...

MODES is a comma-separated list (qstr, module, root_pointer); each mode's pieces go to
BUILD_DIR/<mode>/, one per source, as upstream's `makeqstrdefs.py split <mode>` writes
them. Doing it here instead of one `python3 makeqstrdefs.py` per source and mode saves
hundreds of interpreter start-ups per build (most of a clean build's CPU time). A
source's old pieces are removed first: the core writes none for a source that no
longer registers anything. Missing FILE.i (already split by an interrupted run) are
skipped.
"""

import importlib.util
import os
import re
import sys


def load(path):
    spec = importlib.util.spec_from_file_location("makeqstrdefs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def piece_name(source):
    """The file name the core's write_out() gives a source's pieces."""
    for old, new in (("/", "__"), ("\\", "__"), (":", "@"), ("..", "@@")):
        source = source.replace(old, new)
    return source


def main():
    script, build, modes, files = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4:]
    core = load(script)

    class Args:
        pass

    for path in files:
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        source = re.match(r'#\s*\d*\s*"([^"]+)"', first)
        for mode in modes:
            args = Args()
            args.mode, args.output_dir, args.input_filename = mode, os.path.join(build, mode), path
            os.makedirs(args.output_dir, exist_ok=True)
            if source:
                stale = os.path.join(args.output_dir, piece_name(source.group(1)) + "." + mode)
                if os.path.exists(stale):
                    os.remove(stale)
            core.args = args
            with open(path, encoding="utf-8") as f:
                core.process_file(f)


if __name__ == "__main__":
    main()
