/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* scratch_mem: a per-CPU record buffer, too large for the BPF stack. */
#ifndef KINDLING_MAPS_SCRATCH_MEM_H
#define KINDLING_MAPS_SCRATCH_MEM_H

/* a record is assembled here: header, [scheduler snapshot,] payload (room for an unaligned copy) */
struct scratch {
	struct kd_sock_event ev;
	__u8 tail[KD_SCHED_SNAPSHOT_SIZE + 2 * KD_PAYLOAD_MAX];
};

/* where the payload starts in the record: after the snapshot when profiling */
#define PAYLOAD_BASE (profiling ? KD_SCHED_SNAPSHOT_SIZE : 0)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_mem SEC(".maps");

static __always_inline struct scratch *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch_mem, &zero);
}

#endif /* KINDLING_MAPS_SCRATCH_MEM_H */
