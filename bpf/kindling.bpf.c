// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Socket capture on syscall tracepoints only (no kprobes, no fentry).
 *
 * enter: drop the agent itself and non-TCP/UDP fds at once, then stash the
 *        arguments and the socket in task storage (no hash map per syscall).
 * exit:  build one record per syscall (one per message for *mmsg) in a per-CPU
 *        scratch buffer with the true return value and the first payload_cap
 *        bytes, walking iovecs, and write it to the ring buffer without a
 *        wake-up; user space polls on a timer and is woken only past
 *        wakeup_bytes of backlog.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "shared/kindling_abi.h"
#include "shared/map_sizing.h"
#include "sched_types.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* in dependency order: each file uses only what the ones above it define */
#include "common/compat.h"
#include "common/consts.h"
#include "common/tunables.h"
#include "common/types.h"
#include "maps/events.h"
#include "maps/counters.h"
#include "maps/scratch_mem.h"
#include "maps/stash_map.h"
#include "maps/sock_offsets.h"
#include "task.bpf.h"
#include "sock.bpf.h"
#include "payload.bpf.h"
#include "record.bpf.h"
#include "sched.bpf.h"
#include "enter.bpf.h"
#include "data.bpf.h"
#include "conn.bpf.h"
#include "sock_state.bpf.h"
#include "proc.bpf.h"
