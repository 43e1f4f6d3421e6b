/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Typed kernel pointers (6.2+) or helper reads (KD_COMPAT). Included by kindling.bpf.c. */
#ifndef KINDLING_COMMON_COMPAT_H
#define KINDLING_COMMON_COMPAT_H

/*
 * Following the untyped pointers fd -> file -> socket -> sock costs a helper
 * call per field with bpf_probe_read_kernel. Since 6.2, bpf_rdonly_cast turns
 * them into typed pointers whose fields are plain loads (the enter program drops
 * to less than half its cost). KD_COMPAT builds the same programs for older
 * kernels with helper reads; user space loads that object when this one fails.
 */
#ifdef KD_COMPAT
#define KD_TYPED(type, ptr) ((type *)(ptr))
#define KD_FIELD(ptr, ...) BPF_CORE_READ(ptr, __VA_ARGS__)
#else
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define KD_TYPED(type, ptr) ((type *)bpf_rdonly_cast((void *)(ptr), bpf_core_type_id_kernel(type)))
#define KD_FIELD(ptr, ...) ((ptr)->__VA_ARGS__)
#endif

#endif /* KINDLING_COMMON_COMPAT_H */
