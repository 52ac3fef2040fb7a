# RV64 (M-mode): start-up and trap entry, and the virt machine's devices
# (NS16550A console, CLINT time, PLIC), which replace the port's CMSDK ones.
MCU_SRC := mcu/rv64/startup.c mcu/rv64/trap.c
PORT_HW_SRC := mcu/rv64/uart.c mcu/rv64/systime.c
