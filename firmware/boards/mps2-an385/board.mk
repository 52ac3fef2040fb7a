# ARM MPS2 with the AN385 FPGA image (Cortex-M3), as modelled by QEMU's
# `-M mps2-an385` and by mpsim's boards/mps2-an385 description.
CPU_FLAGS = -mcpu=cortex-m3 -mthumb -mfloat-abi=soft
LDSCRIPT = $(BOARD_DIR)/mps2-an385.ld

BOARD_CFLAGS = -DMPS2_AN385
MCU = arm
