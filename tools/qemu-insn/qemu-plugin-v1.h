/*
 * The part of QEMU's TCG plugin interface, version 1 (QEMU 5.0 to 8.x),
 * that insncount.c uses, declared from its documented semantics: QEMU
 * 7.2 (Debian 12) runs plugins but ships no <qemu-plugin.h>. Only the
 * functions and types below are used; their names, argument lists and
 * enum values are those QEMU resolves and passes when it loads a plugin.
 */
#ifndef STATICNET_QEMU_PLUGIN_V1_H
#define STATICNET_QEMU_PLUGIN_V1_H

#include <stddef.h>
#include <stdint.h>

#define SN_PLUGIN_EXPORT __attribute__((visibility("default")))

/* The plugin's handle, given to qemu_plugin_install. */
typedef uint64_t qemu_plugin_id_t;

/* What QEMU tells the plugin about itself (only passed through here). */
typedef struct qemu_info_t qemu_info_t;

/* A translation block being translated, and one of its instructions. */
struct qemu_plugin_tb;
struct qemu_plugin_insn;

/* Whether a callback reads CPU registers (ours read none). */
enum qemu_plugin_cb_flags {
    QEMU_PLUGIN_CB_NO_REGS,
    QEMU_PLUGIN_CB_R_REGS,
    QEMU_PLUGIN_CB_RW_REGS,
};

/* Inline operations QEMU emits into the translated code. */
enum qemu_plugin_op {
    QEMU_PLUGIN_INLINE_ADD_U64, /* *(uint64_t *)ptr += imm */
};

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

/* Called for every translation block QEMU translates. */
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
/* The guest virtual address of an instruction. */
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
/* Runs cb(vcpu, userdata) each time the instruction is executed. */
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn,
                                            qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
/* Performs `op` on *ptr with imm each time the instruction is executed. */
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn,
                                                enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
/* Runs cb(id, userdata) when the emulated machine exits. */
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb,
                                    void *userdata);
/* Writes a string to QEMU's log (shown with -d plugin; -D FILE for a file). */
void qemu_plugin_outs(const char *string);

#endif
