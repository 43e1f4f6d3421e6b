/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Types shared by the capture programs: socket ends, user-space layouts, a socket reference. */
#ifndef KINDLING_COMMON_TYPES_H
#define KINDLING_COMMON_TYPES_H

/* a socket's two ends, as the event ABI lays them out */
struct addr_pair {
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;
	__u16 remote_port;
	__u32 _pad;
};

/* user-space layouts read from the traced process */
struct user_iovec {
	__u64 base;
	__u64 len;
};

struct user_msghdr_ {
	__u64 name;
	__u32 namelen;
	__u32 _pad0;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
	__u32 _pad1;
};

struct user_mmsghdr {
	struct user_msghdr_ hdr;
	__u32 len;
	__u32 _pad;
};

struct user_sockaddr {
	__u16 family;
	__u16 port;     /* network order */
	__u32 v4_or_flowinfo;
	__u8 v6[16];
	__u32 scope_id;
};

struct sock_ref {
	struct sock *sk;
	__u64 ino;
	__u16 family;
	__u16 sock_type;
	__u16 protocol;
};

#endif /* KINDLING_COMMON_TYPES_H */
