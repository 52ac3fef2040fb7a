# QEMU's RISC-V virt machine, one rv64imac hart in M-mode, as modelled by QEMU's
# `-M virt -bios none` and by mpsim's boards/virt-rv64.toml.
CROSS_COMPILE = riscv64-unknown-elf-
TOOLCHAIN_PKGS = gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
LIBC_SPECS = --specs=picolibc.specs
LIBC_PROBE = picolibc.specs
# GCC 12 selects the rv64imac/lp64 multilib (libgcc, picolibc) only for exactly
# -march=rv64imac, which the link uses; the compiler also needs Zicsr for csr*.
CPU_FLAGS = -march=rv64imac -mabi=lp64 -mcmodel=medany
BOARD_CFLAGS = -march=rv64imac_zicsr $(LIBC_SPECS) -DQEMU_VIRT_RV64
LDSCRIPT = $(BOARD_DIR)/virt-rv64.ld
MCU = rv64
