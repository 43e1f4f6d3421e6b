// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Empty programs on exactly the hooks kindling.bpf.c uses: the baseline the
 * kernel-cost benchmark subtracts (bench/kernel-cost.ts).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EMPTY_PAIR(name)                                                                      \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                           \
	int kd_enter_##name(void *ctx) { return 0; }                                          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                            \
	int kd_exit_##name(void *ctx) { return 0; }

EMPTY_PAIR(read)
EMPTY_PAIR(write)
EMPTY_PAIR(readv)
EMPTY_PAIR(writev)
EMPTY_PAIR(sendto)
EMPTY_PAIR(recvfrom)
EMPTY_PAIR(sendmsg)
EMPTY_PAIR(sendfile64)
EMPTY_PAIR(recvmsg)
EMPTY_PAIR(sendmmsg)
EMPTY_PAIR(recvmmsg)
EMPTY_PAIR(connect)
EMPTY_PAIR(accept)
EMPTY_PAIR(accept4)
EMPTY_PAIR(close)

SEC("tracepoint/sock/inet_sock_set_state")
int kd_inet_sock_set_state(void *ctx) { return 0; }

SEC("tracepoint/sched/sched_process_exec")
int kd_process_exec(void *ctx) { return 0; }

SEC("tracepoint/sched/sched_process_exit")
int kd_process_exit(void *ctx) { return 0; }
