// port qstrs not found by scanning (none)
