"""RISC-V (RV64, M-mode): core.py for the machine."""
