// Core 1.9.2 keeps this header at lib/mp-readline/readline.h; later cores at shared/readline/readline.h.
#include "lib/mp-readline/readline.h"
