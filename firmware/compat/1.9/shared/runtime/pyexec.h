// Core 1.9.2 keeps this header at lib/utils/pyexec.h; later cores at shared/runtime/pyexec.h.
#include "lib/utils/pyexec.h"
