/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Read-only globals user space sets before load. Included by kindling.bpf.c, once. */
#ifndef KINDLING_COMMON_TUNABLES_H
#define KINDLING_COMMON_TUNABLES_H

/* tunables, set by user space before load */
const volatile __u32 self_tgid = 0;
const volatile __u32 filter_tgid = 0;
const volatile __u16 filter_port = 0;
const volatile __u32 payload_cap = KD_PAYLOAD_DEFAULT;
const volatile __u64 wakeup_bytes = KD_RINGBUF_BYTES / 4;
/* trace profiling: scheduler accounting and a counter snapshot in every data record */
const volatile bool profiling = false;
/* trace profiling tier 2: slice records of long off-CPU and run-queue intervals */
const volatile bool slices = false;
/* trace profiling tier 3: user stacks after long blocks (its sys_exit program loads only with it) */
const volatile bool stacks = false;

#endif /* KINDLING_COMMON_TUNABLES_H */
