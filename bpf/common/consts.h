/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Kernel constants vmlinux.h does not carry (it has types, not macros). Included by kindling.bpf.c. */
#ifndef KINDLING_COMMON_CONSTS_H
#define KINDLING_COMMON_CONSTS_H

#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EAGAIN 11
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17

#endif /* KINDLING_COMMON_CONSTS_H */
