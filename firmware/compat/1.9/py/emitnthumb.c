// The Thumb native emitter for core 1.9.2, which builds it only from
// emitnative.c with N_THUMB defined (later cores ship this file themselves).
#define N_THUMB (1)
#include "py/emitnative.c"
