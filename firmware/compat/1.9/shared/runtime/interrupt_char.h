// Core 1.9.2 keeps this header at lib/utils/interrupt_char.h; later cores at shared/runtime/interrupt_char.h.
#include "lib/utils/interrupt_char.h"
