/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* sock_offsets: bytes moved per socket and direction, the offset of each data record. */
#ifndef KINDLING_MAPS_SOCK_OFFSETS_H
#define KINDLING_MAPS_SOCK_OFFSETS_H

struct sock_offsets {
	__u64 bytes[2]; /* [0] egress, [1] ingress */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KD_SOCK_OFFSETS_ENTRIES);
	__type(key, __u64);
	__type(value, struct sock_offsets);
} sock_offsets SEC(".maps");

/* the bytes moved before this record in its direction, advanced by len */
static __always_inline __u64 advance_offset(__u64 ino, __u8 direction, __u64 len)
{
	struct sock_offsets *o = bpf_map_lookup_elem(&sock_offsets, &ino);

	if (!o) {
		struct sock_offsets zero = {};

		bpf_map_update_elem(&sock_offsets, &ino, &zero, BPF_NOEXIST);
		o = bpf_map_lookup_elem(&sock_offsets, &ino);
		if (!o)
			return 0;
	}
	/* atomic: threads may share a socket */
	return __sync_fetch_and_add(&o->bytes[direction == KD_DIR_INGRESS ? 1 : 0], len);
}

#endif /* KINDLING_MAPS_SOCK_OFFSETS_H */
