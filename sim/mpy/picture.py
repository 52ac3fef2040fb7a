"""Pictures of the GC heap: a terminal map (rich) and an SVG file.

Every GC block is one cell, coloured by what the precise walker says it is:
free, live (by kind of object), allocated-but-unreachable (garbage the next
gc.collect() frees), or unclassified (what blocks relocation).
"""

from __future__ import annotations

from html import escape

from rich.table import Table
from rich.text import Text

from .walk import HeapWalk

# kind -> (terminal colour, SVG colour); the kind is the first word of a block's role
PALETTE = {
    "free": ("grey23", "#e8e8e8"),
    "garbage": ("grey50", "#a0a0a0"),
    "unclassified": ("red", "#d62728"),
    "str": ("green", "#2ca02c"), "bytes": ("green", "#2ca02c"), "qstr": ("dark_green", "#1b6e1b"),
    "list": ("blue", "#1f77b4"), "tuple": ("blue", "#1f77b4"),
    "dict": ("magenta", "#9467bd"), "map": ("magenta", "#9467bd"), "set": ("magenta", "#9467bd"),
    "fun": ("yellow", "#e6b800"), "bytecode": ("yellow", "#e6b800"), "closure": ("yellow", "#e6b800"),
    "type": ("cyan", "#17becf"), "instance": ("cyan", "#17becf"), "module": ("cyan", "#17becf"),
    "int": ("orange3", "#ff7f0e"), "float": ("orange3", "#ff7f0e"),
}
OTHER = ("white", "#8c564b")
FREE_GLYPH, USED_GLYPH = "·", "■"


def legend() -> list[tuple[str, tuple[str, str]]]:
    """One entry per colour, naming every kind drawn in it ("str/bytes"), then "other"."""
    names: dict[tuple[str, str], list[str]] = {}
    for kind, colours in PALETTE.items():
        names.setdefault(colours, []).append(kind)
    return [("/".join(kinds), colours) for colours, kinds in names.items()] + [("other", OTHER)]


def block_kinds(walk: HeapWalk) -> list[str]:
    """One kind per block of the pool."""
    block = walk.block_size
    n = (walk.pool_end - walk.pool_start) // block
    kinds = ["free"] * n
    for b in walk.blocks.values():
        kind = b.role.split(".")[0].split("_")[0]
        for i in range((b.addr - walk.pool_start) // block, (b.addr - walk.pool_start + b.size) // block):
            kinds[i] = kind
    for addr, size in walk.garbage:
        for i in range((addr - walk.pool_start) // block, (addr - walk.pool_start + size) // block):
            kinds[i] = "garbage"
    for p in walk.problems:
        i = (p.addr - walk.pool_start) // block
        if 0 <= i < n:
            kinds[i] = "unclassified"
    return kinds


def terminal_map(walk: HeapWalk, width: int = 64, max_rows: int = 32) -> Text:
    """A grid of cells; each cell covers enough blocks to fit ``max_rows`` rows."""
    kinds = block_kinds(walk)
    per_cell = max(1, -(-len(kinds) // (width * max_rows)))
    text = Text()
    cells = [kinds[i:i + per_cell] for i in range(0, len(kinds), per_cell)]
    for i, group in enumerate(cells):
        live = [k for k in group if k != "free"]
        kind = max(set(live), key=live.count) if live else "free"
        text.append(USED_GLYPH if live else FREE_GLYPH, style=PALETTE.get(kind, OTHER)[0])
        if (i + 1) % width == 0:
            text.append("\n")
    text.append(f"\none cell = {per_cell} block(s) of {walk.block_size} B; ")
    for name, colours in legend():
        text.append(f"{FREE_GLYPH if name == 'free' else USED_GLYPH} ", style=colours[0])
        text.append(name + " ")
    return text


def census_table(walk: HeapWalk, top: int = 20) -> Table:
    t = Table(title=f"heap {walk.pool_start:#010x}..{walk.pool_end:#010x}: {walk.live_bytes()} B live in "
                    f"{len(walk.blocks)} blocks, {sum(s for _, s in walk.garbage)} B garbage")
    t.add_column("object kind")
    t.add_column("count", justify="right")
    t.add_column("bytes", justify="right")
    for role, (count, size) in list(walk.census().items())[:top]:
        t.add_row(role, str(count), str(size))
    for p in walk.problems[:10]:
        t.add_row(f"[red]unclassified: {p}[/]", "", "")
    return t


def svg(walk: HeapWalk, width: int = 128, cell: int = 6) -> str:
    kinds = block_kinds(walk)
    rows = -(-len(kinds) // width)
    entries = legend()
    per_row = 5
    legend_y = rows * cell + 14
    caption_y = legend_y + 16 * (-(-len(entries) // per_row))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width * cell, 760)}" height="{caption_y + 22}" '
           f'font-family="monospace" font-size="11">',
           f'<title>GC heap {walk.pool_start:#x}..{walk.pool_end:#x}</title>']
    for i, kind in enumerate(kinds):
        colour = PALETTE.get(kind, OTHER)[1]
        out.append(f'<rect x="{(i % width) * cell}" y="{(i // width) * cell}" width="{cell - 1}" '
                   f'height="{cell - 1}" fill="{colour}"><title>{walk.pool_start + i * walk.block_size:#x} '
                   f'{escape(kind)}</title></rect>')
    for i, (name, colours) in enumerate(entries):
        x, y = (i % per_row) * 152, legend_y + 16 * (i // per_row)
        out.append(f'<rect x="{x}" y="{y - 9}" width="9" height="9" fill="{colours[1]}"/>'
                   f'<text x="{x + 12}" y="{y}">{escape(name)}</text>')
    out.append(f'<text x="0" y="{caption_y}">GC heap {walk.pool_start:#010x}..{walk.pool_end:#010x}: '
               f'one cell = one {walk.block_size} B block, {width} cells per row</text>'
               f'<text x="0" y="{caption_y + 14}">{walk.live_bytes()} B live in {len(walk.blocks)} blocks, '
               f'{sum(s for _, s in walk.garbage)} B garbage</text>')
    out.append("</svg>")
    return "\n".join(out)
