/*
 * The vector table that lets c/main.c (and c/size_probe.c) run on QEMU's
 * MPS2 boards (mps2-an385/386/500; .ci/thumb.sh) with newlib's semihosting
 * startup (--specs=rdimon.specs): on reset the core loads the stack pointer
 * and the reset handler from address 0; newlib's _start then takes the
 * stack and heap from the debugger (SYS_HEAPINFO), zeroes .bss, calls main
 * and exits with its status. With a hardware FPU (M4F, M7) the reset
 * handler first grants access to it, which newlib's startup does not. Linked with -Wl,--section-start=.vectors=0
 * -Wl,-u,sn_vectors. A fault ends the run with status 99 instead of
 * hanging. A real board has its vendor's startup file instead.
 */
extern void _start(void);
extern void _exit(int status) __attribute__((noreturn));

static void sn_fault(void) { _exit(99); }

static void sn_reset(void) {
#if defined(__ARM_FP)
    /* CPACR: full access to coprocessors 10 and 11 (the FPU). */
    *(volatile unsigned *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    _start();
}

/* Top of the boards' 4 MiB of RAM at 0x2000_0000 (newlib's _start moves the
 * stack pointer to where SYS_HEAPINFO says). */
#define SN_STACK_TOP 0x20400000u

__attribute__((section(".vectors"), used)) void (*const sn_vectors[16])(void) = {
    (void (*)(void))SN_STACK_TOP, /* initial stack pointer */
    sn_reset,                     /* reset */
    sn_fault,                     /* NMI */
    sn_fault,                     /* HardFault */
    sn_fault,                     /* MemManage */
    sn_fault,                     /* BusFault */
    sn_fault,                     /* UsageFault */
};
