// The plain firmware polls its UART: no external interrupt is used.
#define PORT_IRQ_VECTORS
