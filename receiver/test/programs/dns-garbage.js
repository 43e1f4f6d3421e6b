// DNS-shaped garbage: each datagram starts like a DNS query (opcode 0, one
// question) and then breaks the format in one way. Used by dns-client.js against
// a live resolver and by the session tests, which check each one is refused.
'use strict';

const header = (id, flags, qd, an, ns, ar) => {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0);
  b.writeUInt16BE(flags, 2);
  b.writeUInt16BE(qd, 4);
  b.writeUInt16BE(an, 6);
  b.writeUInt16BE(ns, 8);
  b.writeUInt16BE(ar, 10);
  return b;
};
const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** [why it is not DNS, bytes] */
const GARBAGE = [
  ['compression pointer to itself', Buffer.concat([header(0x1001, 0x0100, 1, 0, 0, 0), hex('c00c 0001 0001')])],
  ['two pointers pointing at each other', Buffer.concat([header(0x1002, 0x0100, 1, 0, 0, 0), hex('c00e c00c 0001 0001')])],
  ['pointer forwards', Buffer.concat([header(0x1003, 0x0100, 1, 0, 0, 0), hex('c012 0001 0001 0000 0000')])],
  ['label runs past the end', Buffer.concat([header(0x1004, 0x0100, 1, 0, 0, 0), hex('3f 6162 63')])],
  ['extended label type 0x40', Buffer.concat([header(0x1005, 0x0100, 1, 0, 0, 0), hex('41 00 0001 0001')])],
  ['question without type and class', Buffer.concat([header(0x1006, 0x0100, 1, 0, 0, 0), hex('03 777777 00')])],
  ['50000 questions in 20 bytes', Buffer.concat([header(0x1007, 0x0100, 50000, 0, 0, 0), hex('00 0001 0001 00 0001 0001')])],
  ['name of 300 bytes', Buffer.concat([header(0x1008, 0x0100, 1, 0, 0, 0), Buffer.concat(Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)]))), hex('00 0001 0001')])],
  ['an additional record cut in its fixed part', Buffer.concat([header(0x1009, 0x0100, 1, 0, 0, 1), hex('01 61 00 0001 0001'), hex('00 0029 10')])],
  ['only a header', header(0x100a, 0x0100, 1, 0, 0, 0)],
];

/** The same over TCP: a length prefix too short for a header, then a message whose question loops. */
const TCP_GARBAGE = Buffer.concat([hex('0003 616263'), hex('0013'), header(0x2001, 0x0100, 1, 0, 0, 0), hex('c00c 0001 0001')]);

module.exports = { GARBAGE, TCP_GARBAGE };
