# ARMv7-M (Cortex-M3): vector table, reset handler and fault reports.
MCU_SRC := mcu/arm/startup.c
