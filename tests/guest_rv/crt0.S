/* Start-up and trap entry for the RISC-V guest test programs (M-mode, -bios none). */
    .section .text.start
    .globl _start
_start:
    la sp, _stack_top
    la t0, _bss_start
    la t1, _bss_end
1:  bgeu t0, t1, 2f
    sd zero, 0(t0)
    addi t0, t0, 8
    j 1b
2:  la t0, trap_entry
    csrw mtvec, t0
    call main
    call semihost_exit
3:  j 3b

/* Saves the caller-saved registers, calls trap(mcause, mepc, mtval), which returns
   the address to resume at (written to mepc), restores and returns with mret. */
    .text
    .balign 4
    .globl trap_entry
trap_entry:
    addi sp, sp, -128
    sd ra, 0(sp)
    sd t0, 8(sp)
    sd t1, 16(sp)
    sd t2, 24(sp)
    sd a0, 32(sp)
    sd a1, 40(sp)
    sd a2, 48(sp)
    sd a3, 56(sp)
    sd a4, 64(sp)
    sd a5, 72(sp)
    sd a6, 80(sp)
    sd a7, 88(sp)
    sd t3, 96(sp)
    sd t4, 104(sp)
    sd t5, 112(sp)
    sd t6, 120(sp)
    csrr a0, mcause
    csrr a1, mepc
    csrr a2, mtval
    call trap
    csrw mepc, a0
    ld ra, 0(sp)
    ld t0, 8(sp)
    ld t1, 16(sp)
    ld t2, 24(sp)
    ld a0, 32(sp)
    ld a1, 40(sp)
    ld a2, 48(sp)
    ld a3, 56(sp)
    ld a4, 64(sp)
    ld a5, 72(sp)
    ld a6, 80(sp)
    ld a7, 88(sp)
    ld t3, 96(sp)
    ld t4, 104(sp)
    ld t5, 112(sp)
    ld t6, 120(sp)
    addi sp, sp, 128
    mret

/* void semihost_exit(long status): SYS_EXIT (0x18) with the block
   {ADP_Stopped_ApplicationExit, status}; main's return value ends here too. */
    .globl semihost_exit
semihost_exit:
    addi sp, sp, -16
    li t0, 0x20026
    sd t0, 0(sp)
    sd a0, 8(sp)
    li a0, 0x18
    mv a1, sp
    call semihost
4:  j 4b

/* long semihost(long op, long arg): the RISC-V semihosting sequence (uncompressed). */
    .globl semihost
    .balign 16
semihost:
    .option push
    .option norvc
    slli x0, x0, 0x1f
    ebreak
    srai x0, x0, 7
    .option pop
    ret
