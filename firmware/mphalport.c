// HAL: console I/O over the UART (time is in systime.c).
#include <stdint.h>
#include "py/mpstate.h"
#include "py/runtime.h"
#include "py/mphal.h"
#include "board.h"
#include "uart.h"

void systime_init(void);

void mp_hal_init(void) {
    uart_init();
    systime_init();
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
