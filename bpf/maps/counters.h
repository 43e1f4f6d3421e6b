/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* counters: per-CPU per-hook counters (emitted, lost, ...), summed by user space. */
#ifndef KINDLING_MAPS_COUNTERS_H
#define KINDLING_MAPS_COUNTERS_H

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kd_counters);
} counters SEC(".maps");

static __always_inline void count(__u16 hook, __u32 counter, __u64 n)
{
	__u32 zero = 0;
	struct kd_counters *c = bpf_map_lookup_elem(&counters, &zero);

	/* hook and counter are compile-time constants at every call site */
	if (c && hook < KD_HOOK_COUNT && counter < KD_CNT_COUNT)
		c->hook[hook][counter] += n;
}

#endif /* KINDLING_MAPS_COUNTERS_H */
