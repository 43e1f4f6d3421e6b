/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* stash_map: per-thread task storage, from a syscall's enter to its exit (and trace profiling state). */
#ifndef KINDLING_MAPS_STASH_MAP_H
#define KINDLING_MAPS_STASH_MAP_H

/* what enter saw, for exit to finish */
struct stash {
	struct addr_pair addrs; /* close only: the socket may be gone by exit */
	__u64 enter_ns;
	__u64 buf;      /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 addr;     /* sockaddr of sendto/recvfrom/connect */
	__u64 sk;
	__u64 ino;
	__u32 count;    /* byte count, iovec count or message count */
	__s32 fd;
	__u16 hook;     /* KD_HOOK_NONE when nothing is pending */
	__u16 family;
	__u16 sock_type;
	__u16 protocol;
	/* trace profiling: this thread's scheduler accounting, and its counters at the last ingress enter */
	struct sched_track track;
	struct kd_sched_snapshot enter_snap;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stash);
} stash_map SEC(".maps");

#endif /* KINDLING_MAPS_STASH_MAP_H */
