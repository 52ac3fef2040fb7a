// HAL: console I/O over the UART and time from SysTick.
// SysTick (CLKSOURCE = processor clock) interrupts every millisecond; the
// handler counts milliseconds and sub-millisecond time is read from CVR.
#include <stdint.h>
#include "py/mpstate.h"
#include "py/runtime.h"
#include "py/mphal.h"
#include "board.h"
#include "uart.h"

typedef struct {
    volatile uint32_t CSR;  // +0 bit0 ENABLE, bit1 TICKINT, bit2 CLKSOURCE
    volatile uint32_t RVR;  // +4 reload value
    volatile uint32_t CVR;  // +8 current value (counts down)
} systick_t;

#define SYSTICK ((systick_t *)0xE000E010)
#define TICKS_PER_MS (BOARD_CORE_CLOCK_HZ / 1000)

static volatile uint32_t ticks_ms;

void SysTick_Handler(void) {
    ticks_ms = ticks_ms + 1;
}

void mp_hal_init(void) {
    uart_init();
    SYSTICK->RVR = TICKS_PER_MS - 1;
    SYSTICK->CVR = 0;
    SYSTICK->CSR = 7;
}

mp_uint_t mp_hal_ticks_ms(void) {
    return ticks_ms;
}

// Millisecond count and the cycles elapsed within it, read consistently
// (retry if the tick interrupt ran in between).
static uint32_t now_cycles(uint32_t *ms) {
    uint32_t m, cvr;
    do {
        m = ticks_ms;
        cvr = SYSTICK->CVR;
    } while (m != ticks_ms);
    *ms = m;
    return (TICKS_PER_MS - 1) - cvr;
}

mp_uint_t mp_hal_ticks_us(void) {
    uint32_t ms, cyc = now_cycles(&ms);
    return ms * 1000 + cyc / (TICKS_PER_MS / 1000);
}

mp_uint_t mp_hal_ticks_cpu(void) {
    uint32_t ms, cyc = now_cycles(&ms);
    return ms * TICKS_PER_MS + cyc;
}

// Sleeps wait in WFI (woken at least every tick) and stay interruptible by
// Ctrl-C: mp_handle_pending() raises a pending KeyboardInterrupt.
void mp_hal_delay_ms(mp_uint_t ms) {
    uint32_t start = ticks_ms;
    while (ticks_ms - start < ms) {
        mp_handle_pending();
        mp_hal_wfi();
    }
}

void mp_hal_delay_us(mp_uint_t us) {
    uint32_t start = mp_hal_ticks_us();
    while (mp_hal_ticks_us() - start < us) {
        if (us - (mp_hal_ticks_us() - start) > 1000) {
            mp_handle_pending();
            mp_hal_wfi();
        }
    }
}

int mp_hal_stdin_rx_chr(void) {
    for (;;) {
        int c = uart_rx_chr();
        if (c >= 0) {
            return c;
        }
        // Only while Python code runs (e.g. input()): the REPL's own line
        // editor waits here outside any exception handler.
        if (mp_interrupt_char != -1) {
            mp_handle_pending();
        }
        mp_hal_wfi();
    }
}

void mp_hal_stdout_tx_strn(const char *str, size_t len) {
    uart_tx_strn(str, len);
}

void mp_hal_stdout_tx_str(const char *str) {
    size_t n = 0;
    while (str[n]) {
        n++;
    }
    uart_tx_strn(str, n);
}

// "Cooked" output for print(): LF becomes CR LF as a terminal expects.
void mp_hal_stdout_tx_strn_cooked(const char *str, size_t len) {
    const char *last = str;
    for (size_t i = 0; i < len; i++) {
        if (str[i] == '\n') {
            uart_tx_strn(last, str + i - last);
            uart_tx_strn("\r\n", 2);
            last = str + i + 1;
        }
    }
    uart_tx_strn(last, str + len - last);
}
