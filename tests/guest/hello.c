#include "hal.h"
int main(void) {
    uart_init();
    puts_("hello from guest\n");
    return 7;
}
