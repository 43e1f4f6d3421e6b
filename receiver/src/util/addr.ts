/** Address formatting for the 16-byte address fields of the event ABI. */

/** "127.0.0.1" from the first four bytes at `at`. */
export function ipv4ToString(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * RFC 5952 text for an IPv6 address: lowercase, longest run of two or more zero
 * groups as "::", and IPv4-mapped addresses as ::ffff:a.b.c.d.
 */
export function ipv6ToString(b: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[at + 2 * i] ?? 0) << 8) | (b[at + 2 * i + 1] ?? 0));
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${ipv4ToString(b, at + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

export function addrToString(family: number, b: Uint8Array, at: number): string {
  return family === 10 ? ipv6ToString(b, at) : ipv4ToString(b, at);
}

/** "host:port", with brackets for IPv6. */
export function endpointToString(family: number, addr: string, port: number): string {
  return family === 10 ? `[${addr}]:${port}` : `${addr}:${port}`;
}
