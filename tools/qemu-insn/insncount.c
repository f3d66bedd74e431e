/*
 * Executed-instruction counter for QEMU system emulation (TCG plugin API
 * version 1, QEMU 7.2), used by .ci/thumb.sh.
 *
 *   qemu-system-arm ... -plugin libinsncount.so,begin=0xADDR,end=0xADDR \
 *                       -d plugin -D counts.log
 *
 * Every executed guest instruction adds one to a counter (an inline add
 * QEMU emits into the translated code, no call). Executing the instruction
 * at `begin` (the first instruction of a marker function) records the
 * counter; executing the one at `end` writes one line to the log:
 *
 *   insncount N COUNT
 *
 * where N = 0, 1, ... numbers the regions in order and COUNT is the
 * instructions executed from `begin`'s instruction up to, not including,
 * `end`'s: the measured code plus a fixed overhead of the marker calls,
 * which the caller measures with an empty region and subtracts. A
 * `total COUNT` line at exit gives the whole run. One vCPU (M-profile
 * boards have one). Thumb addresses may be given with bit 0 set.
 *
 * Build: gcc -O2 -shared -fPIC -o libinsncount.so insncount.c
 */
#include "qemu-plugin-v1.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

SN_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t executed;      /* instructions executed so far */
static uint64_t region_start;  /* `executed` at the last begin */
static int in_region;
static unsigned regions;
static uint64_t begin_addr, end_addr;

static void on_begin(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    region_start = executed;
    in_region = 1;
}

static void on_end(unsigned int vcpu, void *udata) {
    (void)vcpu;
    (void)udata;
    if (!in_region) return;
    char line[64];
    snprintf(line, sizeof line, "insncount %u %" PRIu64 "\n", regions++, executed - region_start);
    qemu_plugin_outs(line);
    in_region = 0;
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        /* The marker callbacks run before the instruction's own count. */
        if (pc == begin_addr)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (pc == end_addr)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void on_machine_exit(qemu_plugin_id_t id, void *udata) {
    (void)id;
    (void)udata;
    char line[64];
    snprintf(line, sizeof line, "total %" PRIu64 "\n", executed);
    qemu_plugin_outs(line);
}

SN_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                         char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "begin=", 6) == 0)
            begin_addr = strtoull(argv[i] + 6, NULL, 0) & ~(uint64_t)1;
        else if (strncmp(argv[i], "end=", 4) == 0)
            end_addr = strtoull(argv[i] + 4, NULL, 0) & ~(uint64_t)1;
        else {
            fprintf(stderr, "insncount: unknown argument %s (want begin=ADDR end=ADDR)\n", argv[i]);
            return -1;
        }
    }
    if (!begin_addr || !end_addr) {
        fprintf(stderr, "insncount: begin=ADDR and end=ADDR are required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    qemu_plugin_register_atexit_cb(id, on_machine_exit, NULL);
    return 0;
}
