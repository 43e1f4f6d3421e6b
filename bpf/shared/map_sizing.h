/* SPDX-License-Identifier: Apache-2.0 */
/* Every map size in one place. User space may override the ring buffer size before load. */
#ifndef KINDLING_MAP_SIZING_H
#define KINDLING_MAP_SIZING_H

/* ring buffer for all records (bytes, power of two); the addon's ringBytes option overrides it */
#define KD_RINGBUF_BYTES (8 * 1024 * 1024)
/* per-socket byte offsets (LRU: an evicted socket restarts its offsets at 0) */
#define KD_SOCK_OFFSETS_ENTRIES 65536

#endif /* KINDLING_MAP_SIZING_H */
