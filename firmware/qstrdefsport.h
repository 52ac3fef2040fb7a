// Port-specific qstrs not found by scanning the sources (none needed).
