/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* The current task: process filter and identity by plain loads. Included by kindling.bpf.c. */
#ifndef KINDLING_TASK_BPF_H
#define KINDLING_TASK_BPF_H

/* the current process is one we trace */
static __always_inline bool wanted_process(__u32 tgid)
{
	if (tgid == self_tgid)
		return false;
	return filter_tgid == 0 || tgid == filter_tgid;
}

/*
 * comm and cgroup id by plain loads from the trusted task pointer: the same
 * values bpf_get_current_comm and bpf_get_current_cgroup_id give, without two
 * helper calls per record
 */
static __always_inline void copy_comm(char *dst, struct task_struct *task)
{
	__u64 a = *(__u64 *)&task->comm[0], b = *(__u64 *)&task->comm[8];

	__builtin_memcpy(dst, &a, 8);
	__builtin_memcpy(dst + 8, &b, 8);
}

static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
}

/* tgid << 32 | pid, as bpf_get_current_pid_tgid gives it, from plain loads */
static __always_inline __u64 task_pid_tgid(struct task_struct *task)
{
	return ((__u64)task->tgid << 32) | (__u32)task->pid;
}

#endif /* KINDLING_TASK_BPF_H */
