/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Prints the event ABI as JSON from offsetof/sizeof, so a test can compare it
 * with the TypeScript decoder's offsets (receiver/src/events/abi.ts).
 */
#include <stddef.h>
#include <stdio.h>
#include "shared/kindling_abi.h"

#define FIELD(type, f) printf("%s\"%s\": [%zu, %zu]", first ? "" : ", ", #f, offsetof(type, f), sizeof(((type *)0)->f)), first = 0

static void sock_event(void)
{
	int first = 1;

	printf("  \"kd_sock_event\": {\"size\": %zu, \"fields\": {", sizeof(struct kd_sock_event));
	FIELD(struct kd_sock_event, kind);
	FIELD(struct kd_sock_event, size);
	FIELD(struct kd_sock_event, hook);
	FIELD(struct kd_sock_event, direction);
	FIELD(struct kd_sock_event, flags);
	FIELD(struct kd_sock_event, pid);
	FIELD(struct kd_sock_event, tid);
	FIELD(struct kd_sock_event, fd);
	FIELD(struct kd_sock_event, family);
	FIELD(struct kd_sock_event, sock_type);
	FIELD(struct kd_sock_event, cgroup_id);
	FIELD(struct kd_sock_event, enter_ns);
	FIELD(struct kd_sock_event, exit_ns);
	FIELD(struct kd_sock_event, ret);
	FIELD(struct kd_sock_event, len);
	FIELD(struct kd_sock_event, sock_id);
	FIELD(struct kd_sock_event, sk);
	FIELD(struct kd_sock_event, offset);
	FIELD(struct kd_sock_event, local_addr);
	FIELD(struct kd_sock_event, remote_addr);
	FIELD(struct kd_sock_event, local_port);
	FIELD(struct kd_sock_event, remote_port);
	FIELD(struct kd_sock_event, payload_len);
	FIELD(struct kd_sock_event, msg_index);
	FIELD(struct kd_sock_event, protocol);
	FIELD(struct kd_sock_event, msg_count);
	FIELD(struct kd_sock_event, comm);
	printf("}},\n");
}

static void sched_snapshot(void)
{
	int first = 1;

	printf("  \"kd_sched_snapshot\": {\"size\": %zu, \"fields\": {", sizeof(struct kd_sched_snapshot));
	FIELD(struct kd_sched_snapshot, on_ns);
	FIELD(struct kd_sched_snapshot, runq_ns);
	FIELD(struct kd_sched_snapshot, off_ns);
	FIELD(struct kd_sched_snapshot, slice_start_ns);
	FIELD(struct kd_sched_snapshot, voluntary);
	FIELD(struct kd_sched_snapshot, involuntary);
	printf("}},\n");
}

static void sock_state_event(void)
{
	int first = 1;

	printf("  \"kd_sock_state_event\": {\"size\": %zu, \"fields\": {", sizeof(struct kd_sock_state_event));
	FIELD(struct kd_sock_state_event, kind);
	FIELD(struct kd_sock_state_event, size);
	FIELD(struct kd_sock_state_event, family);
	FIELD(struct kd_sock_state_event, protocol);
	FIELD(struct kd_sock_state_event, pid);
	FIELD(struct kd_sock_state_event, tid);
	FIELD(struct kd_sock_state_event, ts_ns);
	FIELD(struct kd_sock_state_event, sk);
	FIELD(struct kd_sock_state_event, sock_id);
	FIELD(struct kd_sock_state_event, old_state);
	FIELD(struct kd_sock_state_event, new_state);
	FIELD(struct kd_sock_state_event, local_addr);
	FIELD(struct kd_sock_state_event, remote_addr);
	FIELD(struct kd_sock_state_event, local_port);
	FIELD(struct kd_sock_state_event, remote_port);
	FIELD(struct kd_sock_state_event, comm);
	printf("}},\n");
}

static void proc_event(void)
{
	int first = 1;

	printf("  \"kd_proc_event\": {\"size\": %zu, \"fields\": {", sizeof(struct kd_proc_event));
	FIELD(struct kd_proc_event, kind);
	FIELD(struct kd_proc_event, size);
	FIELD(struct kd_proc_event, what);
	FIELD(struct kd_proc_event, pid);
	FIELD(struct kd_proc_event, ppid);
	FIELD(struct kd_proc_event, tid);
	FIELD(struct kd_proc_event, ts_ns);
	FIELD(struct kd_proc_event, cgroup_id);
	FIELD(struct kd_proc_event, comm);
	printf("}},\n");
}

static void slice_event(void)
{
	int first = 1;

	printf("  \"kd_slice_event\": {\"size\": %zu, \"fields\": {", sizeof(struct kd_slice_event));
	FIELD(struct kd_slice_event, kind);
	FIELD(struct kd_slice_event, size);
	FIELD(struct kd_slice_event, what);
	FIELD(struct kd_slice_event, pid);
	FIELD(struct kd_slice_event, tid);
	FIELD(struct kd_slice_event, start_ns);
	FIELD(struct kd_slice_event, end_ns);
	printf("}},\n");
}

static void stack_event(void)
{
	int first = 1;

	printf("  \"kd_stack_event\": {\"size\": %zu, \"fields\": {", sizeof(struct kd_stack_event));
	FIELD(struct kd_stack_event, kind);
	FIELD(struct kd_stack_event, size);
	FIELD(struct kd_stack_event, cause);
	FIELD(struct kd_stack_event, flags);
	FIELD(struct kd_stack_event, nframes);
	FIELD(struct kd_stack_event, pid);
	FIELD(struct kd_stack_event, tid);
	FIELD(struct kd_stack_event, syscall_nr);
	FIELD(struct kd_stack_event, nscan);
	FIELD(struct kd_stack_event, block_start_ns);
	FIELD(struct kd_stack_event, block_end_ns);
	FIELD(struct kd_stack_event, user_sp);
	FIELD(struct kd_stack_event, user_bp);
	FIELD(struct kd_stack_event, frames);
	FIELD(struct kd_stack_event, scan);
	printf("}},\n");
}

static void constants(void)
{
	printf("  \"constants\": {\"KD_ABI_VERSION\": %d, \"KD_PAYLOAD_MAX\": %d, \"KD_PAYLOAD_DEFAULT\": %d, "
	       "\"KD_MAX_IOV\": %d, \"KD_MAX_MMSG\": %d, \"KD_HOOK_COUNT\": %d, \"KD_CNT_COUNT\": %d, "
	       "\"KD_OFF_COUNT\": %d, \"KD_KIND_SOCK_DATA\": %d, \"KD_KIND_SOCK_CONN\": %d, "
	       "\"KD_KIND_SOCK_STATE\": %d, \"KD_KIND_PROC\": %d, \"KD_KIND_SLICE\": %d, \"KD_SLICE_RUNQ\": %d, \"KD_FLAG_SCHED\": %d, "
	       "\"KD_KIND_STACK\": %d, \"KD_STACK_MAX_FRAMES\": %d, \"KD_STACK_SCAN_WORDS\": %d, \"KD_STACK_HEADER_SIZE\": %d, \"KD_STACK_TRUNCATED\": %d}\n",
	       KD_ABI_VERSION, KD_PAYLOAD_MAX, KD_PAYLOAD_DEFAULT, KD_MAX_IOV, KD_MAX_MMSG, KD_HOOK_COUNT,
	       KD_CNT_COUNT, KD_OFF_COUNT, KD_KIND_SOCK_DATA, KD_KIND_SOCK_CONN, KD_KIND_SOCK_STATE,
	       KD_KIND_PROC, KD_KIND_SLICE, KD_SLICE_RUNQ, KD_FLAG_SCHED, KD_KIND_STACK, KD_STACK_MAX_FRAMES, KD_STACK_SCAN_WORDS,
	       KD_STACK_HEADER_SIZE, KD_STACK_TRUNCATED);
}

#define ENUM(name) printf("%s\"%s\": %d", first ? "" : ", ", #name, (int)(name)), first = 0

static void enums(void)
{
	int first = 1;

	printf("  \"hooks\": {");
	ENUM(KD_HOOK_NONE);
	ENUM(KD_HOOK_READ);
	ENUM(KD_HOOK_WRITE);
	ENUM(KD_HOOK_READV);
	ENUM(KD_HOOK_WRITEV);
	ENUM(KD_HOOK_SENDTO);
	ENUM(KD_HOOK_RECVFROM);
	ENUM(KD_HOOK_SENDMSG);
	ENUM(KD_HOOK_RECVMSG);
	ENUM(KD_HOOK_SENDMMSG);
	ENUM(KD_HOOK_RECVMMSG);
	ENUM(KD_HOOK_CONNECT);
	ENUM(KD_HOOK_ACCEPT);
	ENUM(KD_HOOK_ACCEPT4);
	ENUM(KD_HOOK_CLOSE);
	ENUM(KD_HOOK_INET_SOCK_SET_STATE);
	ENUM(KD_HOOK_PROCESS_EXEC);
	ENUM(KD_HOOK_PROCESS_EXIT);
	ENUM(KD_HOOK_SCHED_SWITCH);
	ENUM(KD_HOOK_SENDFILE);
	ENUM(KD_HOOK_SYS_EXIT);
	printf("},\n  \"counters\": {");
	first = 1;
	ENUM(KD_CNT_EMITTED);
	ENUM(KD_CNT_LOST_RINGBUF);
	ENUM(KD_CNT_LOST_STASH);
	ENUM(KD_CNT_LOST_MMSG);
	ENUM(KD_CNT_LOST_SCRATCH);
	ENUM(KD_CNT_PAYLOAD_FAULT);
	ENUM(KD_CNT_IOV_TRUNCATED);
	ENUM(KD_CNT_SKIPPED_EAGAIN);
	ENUM(KD_CNT_THROTTLED);
	printf("},\n  \"flags\": {");
	first = 1;
	ENUM(KD_FLAG_PAYLOAD_TRUNCATED);
	ENUM(KD_FLAG_PAYLOAD_FAULT);
	ENUM(KD_FLAG_IOV_TRUNCATED);
	ENUM(KD_FLAG_SCHED);
	ENUM(KD_FLAG_ADDR_FROM_MSG);
	printf("},\n  \"directions\": {");
	first = 1;
	ENUM(KD_DIR_NONE);
	ENUM(KD_DIR_EGRESS);
	ENUM(KD_DIR_INGRESS);
	printf("},\n  \"offcpu\": {");
	first = 1;
	ENUM(KD_OFF_DISK);
	ENUM(KD_OFF_LOCK);
	ENUM(KD_OFF_NET);
	ENUM(KD_OFF_IDLE);
	ENUM(KD_OFF_SLEEP);
	ENUM(KD_OFF_PIPE);
	ENUM(KD_OFF_NONSYS);
	ENUM(KD_OFF_OTHER);
	printf("},\n");
}

int main(void)
{
	printf("{\n");
	sock_event();
	sched_snapshot();
	sock_state_event();
	proc_event();
	slice_event();
	stack_event();
	enums();
	constants();
	printf("}\n");
	return 0;
}
