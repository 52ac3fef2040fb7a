// Board description for QEMU's RISC-V virt machine: addresses and interrupt
// numbers, as hw/riscv/virt.c lays them out (and boards/virt-rv64.toml).
#ifndef MPSIM_BOARD_H
#define MPSIM_BOARD_H

#define MICROPY_HW_BOARD_NAME   "virt-rv64"
#define MICROPY_HW_MCU_NAME     "rv64imac"
#define BOARD_SYS_PLATFORM      "virt"

// DRAM (QEMU's default 128 MiB): code, data, heap and stack; a heap moved by
// the boot parameters must end inside it.
#define BOARD_RAM_START         (0x80000000u)
#define BOARD_RAM_END           (0x88000000u)

// NS16550A UART0, PLIC source 10.
#define BOARD_UART0_BASE        (0x10000000u)
#define BOARD_UART0_IRQ         (10)

// CLINT: mtimecmp (hart 0) and mtime, counting at 10 MHz.
#define BOARD_CLINT_BASE        (0x02000000u)
#define BOARD_MTIME_HZ          (10000000u)

// PLIC, context 0 = hart 0 M-mode.
#define BOARD_PLIC_BASE         (0x0c000000u)

// sifive_test finisher: poweroff with a status, or reset.
#define BOARD_TEST_BASE         (0x00100000u)

// QEMU virt has no LEDs or GPIO: board.LED is a word of RAM (see board_io.h).
#define BOARD_NUM_LEDS          (2)

#endif // MPSIM_BOARD_H
