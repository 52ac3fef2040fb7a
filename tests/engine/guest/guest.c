/* CPU-bound Cortex-M3 guest for engine tests and benchmarks (mpsim).
 *
 * Runs on QEMU's mps2-an385 (code in RAM at 0x0, data in SRAM at 0x20000000)
 * and on mpsim's Unicorn engine.  It mixes what an interpreter does: loads and
 * stores to SRAM (heap + stack), direct and indirect calls, a switch-dispatched
 * byte-code loop and some arithmetic.  The result is printed with semihosting
 * SYS_WRITE0 and the program ends with SYS_EXIT, so QEMU needs only
 * `-semihosting`.  ITERATIONS sets the amount of work.
 */
#include <stdint.h>

#ifndef ITERATIONS
#define ITERATIONS 1000
#endif

#define HEAP_WORDS 4096

static uint32_t heap[HEAP_WORDS];            /* .bss in SRAM */
static uint8_t bytecode[256];
volatile uint32_t result_words[4];           /* read back by the tests */

static inline uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void put_str(const char *s) { semihost(0x04, s); }

static void put_hex(uint32_t v)
{
    char buf[11];
    buf[0] = ' ';
    for (int i = 0; i < 8; i++) {
        uint32_t d = (v >> (28 - 4 * i)) & 0xf;
        buf[1 + i] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    }
    buf[9] = 0;
    put_str(buf);
}

__attribute__((noinline)) static uint32_t mix(uint32_t a, uint32_t b)
{
    a ^= b + 0x9e3779b9u + (a << 6) + (a >> 2);
    return a;
}

__attribute__((noinline)) static uint32_t op_add(uint32_t acc, uint32_t x) { return acc + x; }
__attribute__((noinline)) static uint32_t op_xor(uint32_t acc, uint32_t x) { return acc ^ (x * 2654435761u); }
__attribute__((noinline)) static uint32_t op_rot(uint32_t acc, uint32_t x) { return (acc << (x & 31)) | (acc >> ((32 - x) & 31)); }
__attribute__((noinline)) static uint32_t op_sub(uint32_t acc, uint32_t x) { return acc - x * 3; }

typedef uint32_t (*op_fn)(uint32_t, uint32_t);
static op_fn const ops[4] = { op_add, op_xor, op_rot, op_sub };

/* memory churn: a small "GC sweep" over the heap with loads and stores */
__attribute__((noinline)) static uint32_t churn(uint32_t seed)
{
    uint32_t acc = seed;
    for (int i = 0; i < HEAP_WORDS; i += 7) {
        uint32_t v = heap[i];
        heap[i] = v + acc;
        heap[(i * 13) & (HEAP_WORDS - 1)] ^= acc;
        acc = mix(acc, v);
    }
    return acc;
}

/* byte-code loop: switch dispatch + indirect calls + a stack array */
__attribute__((noinline)) static uint32_t interp(uint32_t acc)
{
    uint32_t stack[16];
    int sp = 0;
    for (int pc = 0; pc < 256; pc++) {
        uint8_t op = bytecode[pc];
        switch (op & 7) {
        case 0: stack[sp++ & 15] = acc; break;
        case 1: acc += stack[--sp & 15]; break;
        case 2: acc = ops[(op >> 3) & 3](acc, op); break;
        case 3: acc = mix(acc, pc); break;
        case 4: heap[(acc >> 4) & (HEAP_WORDS - 1)] = acc; break;
        case 5: acc ^= heap[(acc >> 7) & (HEAP_WORDS - 1)]; break;
        case 6: acc = acc * 33 + (op >> 3); break;
        default: stack[(pc >> 2) & 15] ^= acc; break;
        }
    }
    return acc + stack[3];
}

void main_loop(void)
{
    for (int i = 0; i < 256; i++)
        bytecode[i] = (uint8_t)(i * 37 + (i >> 3));
    uint32_t acc = 1;
    for (uint32_t it = 0; it < ITERATIONS; it++) {
        acc = interp(acc);
        if ((it & 3) == 0)
            acc = churn(acc);
    }
    uint32_t h = 0;
    for (int i = 0; i < HEAP_WORDS; i++)
        h = h * 31 + heap[i];
    result_words[0] = acc;
    result_words[1] = h;
    result_words[2] = ITERATIONS;
    result_words[3] = 0x600dc0de;
    put_str("result");
    put_hex(acc);
    put_hex(h);
    put_str("\n");
    static const uint32_t exit_block[2] = { 0x20026, 0 };  /* ADP_Stopped_ApplicationExit */
    semihost(0x18, (const void *)0x20026);
    semihost(0x20, exit_block);                 /* not reached on QEMU */
    for (;;)
        ;
}

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;

__attribute__((noreturn)) void reset_handler(void)
{
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata)
        *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;)
        *dst++ = 0;
    main_loop();
    for (;;)
        ;
}

__attribute__((noreturn)) static void fault_handler(void)
{
    put_str("fault\n");
    semihost(0x18, (const void *)0x20023);  /* ADP_Stopped_RunTimeErrorUnknown */
    for (;;)
        ;
}

__attribute__((section(".vectors"), used))
static void *const vectors[16] = {
    &_estack, reset_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler,
    0, fault_handler, fault_handler,
};
