/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* events: the ring buffer every record goes to (size in shared/map_sizing.h). */
#ifndef KINDLING_MAPS_EVENTS_H
#define KINDLING_MAPS_EVENTS_H

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, KD_RINGBUF_BYTES);
} events SEC(".maps");

static __always_inline __u64 ringbuf_flags(void)
{
	/* wake the reader only when a backlog has built up; otherwise it polls on a timer */
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

#endif /* KINDLING_MAPS_EVENTS_H */
