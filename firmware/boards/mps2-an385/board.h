// Board description for the MPS2 AN385 FPGA image: addresses and IRQ numbers.
// Values follow ARM AN385 and QEMU's hw/arm/mps2.c model of it.
#ifndef MPSIM_BOARD_H
#define MPSIM_BOARD_H

#define MICROPY_HW_BOARD_NAME   "mps2-an385"
#define MICROPY_HW_MCU_NAME     "Cortex-M3"

// Core clock of QEMU's model (SYSCLK_FRQ); SysTick counts it (CLKSOURCE=1).
#define BOARD_CORE_CLOCK_HZ     (25000000u)

// Data RAM (SSRAM2/3): .data, .bss, heap, stack; a heap moved by the boot
// parameters must end inside it.
#define BOARD_RAM_START         (0x20000000u)
#define BOARD_RAM_END           (0x20400000u)

// Where a ROMFS image is read (romfs.c): the start of the 16 MiB PSRAM at
// 0x21000000, 4 MiB, as upstream MicroPython's ports/qemu (MPS2_AN385) has it.
#define BOARD_ROMFS_BASE        (0x21000000u)
#define BOARD_ROMFS_SIZE        (0x00400000u)

// CMSDK APB UART0; QEMU wires RX to IRQ 0 and TX to IRQ 1 (UART1: 2/3, ...).
#define BOARD_UART0_BASE        (0x40004000u)
#define BOARD_UART0_RX_IRQ      (0)
#define BOARD_UART0_BAUDDIV     (25000000u / 115200u)

// CMSDK APB timers 0 and 1, clocked by the 25 MHz APB clock (PCLK = SYSCLK);
// QEMU wires them to IRQ 8 and 9.
#define BOARD_APB_CLOCK_HZ      (25000000u)
#define BOARD_TIMER0_BASE       (0x40000000u)
#define BOARD_TIMER0_IRQ        (8)
#define BOARD_TIMER1_BASE       (0x40001000u)
#define BOARD_TIMER1_IRQ        (9)

// FPGA system control and I/O block (LEDs, buttons, counters).
#define BOARD_FPGAIO_BASE       (0x40028000u)
#define BOARD_NUM_LEDS          (2)
#define BOARD_NUM_BUTTONS       (2)

// Number of external interrupt lines on the AN385 NVIC.
#define BOARD_NUM_IRQS          (32)

#endif // MPSIM_BOARD_H
