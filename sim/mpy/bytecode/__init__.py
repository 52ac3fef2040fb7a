"""Bytecode decoders, one module per MicroPython bytecode generation (v1_9: 1.9.x)."""
