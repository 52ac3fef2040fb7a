// HAL: console I/O over the UART (time is in systime.c).
//
// Input: the UART's RX interrupt hands each byte to mpsim_console_rx, which
// turns the interrupt character into a pending KeyboardInterrupt (so Ctrl-C
// stops running Python code) and puts the rest into a power-of-two ring; head
// written only by the ISR, tail only by thread code. A host bridge reads
// rx_head - rx_tail to feed no more than the ring holds (sim/bridge/loop.py).
#include <stdint.h>
#include "py/mpstate.h"
#include "py/runtime.h"
#include "py/mphal.h"
#include "board.h"
#include "uart.h"

void systime_init(void);

#define RX_BUF_SIZE 256
static uint8_t rx_buf[RX_BUF_SIZE];
static volatile uint32_t rx_head, rx_tail;

void mpsim_console_rx(int c) {
    if (c == mp_interrupt_char) {
        MPSIM_KEYBOARD_INTERRUPT();
    } else if (rx_head - rx_tail < RX_BUF_SIZE) {
        rx_buf[rx_head % RX_BUF_SIZE] = c;
        rx_head = rx_head + 1;
    }
    // else: overrun, drop the byte
}

// The next received byte, or -1 (never blocks).
static int console_rx_chr(void) {
    if (rx_head == rx_tail) {
        // Also poll the hardware (with interrupts masked), so input works on a
        // host that models the UART but does not deliver its interrupt.
        mp_uint_t irq = MICROPY_BEGIN_ATOMIC_SECTION();
        uart_rx_irq_handler();
        MICROPY_END_ATOMIC_SECTION(irq);
        if (rx_head == rx_tail) {
            return -1;
        }
    }
    int c = rx_buf[rx_tail % RX_BUF_SIZE];
    rx_tail = rx_tail + 1;
    return c;
}

void mp_hal_init(void) {
    rx_head = rx_tail = 0;
    uart_init();
    systime_init();
}

int mp_hal_stdin_rx_chr(void) {
    for (;;) {
        int c = console_rx_chr();
        if (c >= 0) {
            return c;
        }
        // Only while Python code runs (e.g. input()): the REPL's own line
        // editor waits here outside any exception handler.
        if (mp_interrupt_char != -1) {
            MPSIM_HANDLE_PENDING();
        }
        mp_hal_wfi();
    }
}

mpsim_tx_ret_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    uart_tx_strn(str, len);
    MPSIM_TX_RETURN(len);
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
