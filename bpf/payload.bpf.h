/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/* Copying a bounded payload prefix from user buffers and iovecs into the scratch record. Included by kindling.bpf.c. */
#ifndef KINDLING_PAYLOAD_BPF_H
#define KINDLING_PAYLOAD_BPF_H

/* bytes of payload wanted for a transfer of len bytes */
static __always_inline __u32 payload_want(__u64 len)
{
	__u32 cap = payload_cap;

	/* payload_cap is frozen read-only data, but clamp anyway for the verifier */
	if (cap > KD_PAYLOAD_MAX)
		cap = KD_PAYLOAD_MAX;
	return len < cap ? (__u32)len : cap;
}

/*
 * Clamp a register in place. Written in asm because clang may otherwise test a
 * zero-extended copy and pass the unclamped original, which the verifier rejects.
 */
#define CLAMP_UMAX(var, umax) \
	asm volatile("if %0 <= %[max] goto +1\n\t%0 = %[max]" : "+r"(var) : [max] "i"(umax))

/* copy n bytes of user memory to payload[off]; off < KD_PAYLOAD_MAX keeps it in bounds */
static __always_inline long copy_user(struct scratch *sc, __u32 off, __u32 n, __u64 src)
{
	__u64 o = off & (KD_PAYLOAD_MAX - 1);
	__u64 len = n;

	CLAMP_UMAX(len, KD_PAYLOAD_MAX);
	return bpf_probe_read_user(&sc->tail[PAYLOAD_BASE + o], len, (void *)src);
}

/* gather up to want bytes from an iovec array; returns bytes copied */
static __always_inline __u32 copy_iovecs(struct scratch *sc, __u64 uiov, __u64 iovcnt, __u32 want)
{
	struct user_iovec iov;
	__u32 copied = 0;

	for (int i = 0; i < KD_MAX_IOV; i++) {
		if (i >= iovcnt || copied >= want)
			return copied;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(uiov + i * sizeof(iov)))) {
			sc->ev.flags |= KD_FLAG_PAYLOAD_FAULT;
			return copied;
		}
		__u32 n = want - copied;
		if (iov.len < n)
			n = iov.len;
		if (copy_user(sc, copied, n, iov.base)) {
			sc->ev.flags |= KD_FLAG_PAYLOAD_FAULT;
			return copied;
		}
		copied += n;
	}
	if (iovcnt > KD_MAX_IOV && copied < want)
		sc->ev.flags |= KD_FLAG_IOV_TRUNCATED;
	return copied;
}

#endif /* KINDLING_PAYLOAD_BPF_H */
