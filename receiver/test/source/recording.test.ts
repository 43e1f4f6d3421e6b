import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isKindlingError } from '../../src/errors';
import { RecordingReader, RecordingWriter, countRecords } from '../../src/source/recording';
import { ReplaySource } from '../../src/source/replay-source';
import type { KindlingEvent } from '../../src/events/types';
import { sockRecord, stateRecord } from '../helpers/records';

function tmp(name: string): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-rec-')), name);
}

function writeSample(file: string): Buffer[] {
  const batches = [
    Buffer.concat([sockRecord({ payload: Buffer.from('GET / HTTP/1.1\r\n\r\n') }), stateRecord()]),
    Buffer.concat([sockRecord({ direction: 2, hook: 1, payload: Buffer.from('HTTP/1.1 200 OK\r\n\r\n') })]),
  ];
  const w = new RecordingWriter(file, { createdAt: 'now', host: 'h', kernel: 'k', payloadBytes: 512, meta: { scenario: 'x' } });
  for (const b of batches) w.write(b, countRecords(b));
  w.close();
  return batches;
}

async function replayAll(file: string): Promise<{ events: KindlingEvent[]; error?: unknown }> {
  const events: KindlingEvent[] = [];
  const src = new ReplaySource({ file });
  await src.start((b) => events.push(...b.events));
  try {
    await src.finished;
    return { events };
  } catch (error) {
    return { events, error };
  }
}

test('a recording replays to the same batches, header included', async () => {
  const file = tmp('ok.kdcap');
  const batches = writeSample(file);
  const r = new RecordingReader(file);
  assert.deepEqual(r.header.meta, { scenario: 'x' });
  const blocks = [];
  for (let b = r.next(); b; b = r.next()) blocks.push(b);
  r.close();
  assert.equal(blocks.length, 2);
  blocks.forEach((b, i) => assert.ok(Buffer.from(b.raw).equals(batches[i]!)));
  const { events, error } = await replayAll(file);
  assert.equal(error, undefined);
  assert.equal(events.length, 3);
});

test('every truncation fails with KINDLING_ERR_CAPTURE_FORMAT naming a byte offset inside the file', async () => {
  const file = tmp('full.kdcap');
  writeSample(file);
  const full = fs.readFileSync(file);
  // block boundaries are valid cut points (a shorter but sound file)
  const sound = new Set<number>();
  const r = new RecordingReader(file);
  for (let b = r.next(); b; b = r.next()) sound.add(b.offset);
  r.close();
  sound.add(full.length);
  const cutFile = tmp('cut.kdcap');
  for (let cut = 0; cut < full.length; cut++) {
    fs.writeFileSync(cutFile, full.subarray(0, cut));
    let err: unknown;
    try {
      const { error } = await replayAll(cutFile);
      err = error;
    } catch (e) {
      err = e;
    }
    if (sound.has(cut)) {
      assert.equal(err, undefined, `cut at ${cut} is a block boundary`);
      continue;
    }
    assert.ok(isKindlingError(err, 'KINDLING_ERR_CAPTURE_FORMAT'), `cut at ${cut}: ${String(err)}`);
    const m = /at byte offset (\d+)/.exec((err as Error).message);
    assert.ok(m, (err as Error).message);
    assert.ok(Number(m[1]) <= cut, `offset ${m[1]} within the ${cut} bytes present`);
  }
});

test('a flipped byte in a block is caught by its checksum, and earlier blocks still replay', async () => {
  const file = tmp('flip.kdcap');
  writeSample(file);
  const buf = fs.readFileSync(file);
  buf.writeUInt8(buf.readUInt8(buf.length - 3) ^ 0xff, buf.length - 3);
  fs.writeFileSync(file, buf);
  const { events, error } = await replayAll(file);
  assert.ok(isKindlingError(error, 'KINDLING_ERR_CAPTURE_FORMAT'));
  assert.match((error as Error).message, /byte offset \d+: block checksum mismatch/);
  assert.equal(events.length, 2, 'the first block was delivered');
});

test('a file that is not a capture, or from another ABI, is refused at start', async () => {
  const file = tmp('junk.kdcap');
  fs.writeFileSync(file, 'hello, this is not a capture file at all');
  await assert.rejects(new ReplaySource({ file }).start(() => undefined), /byte offset 0: not a Kindling capture file/);
  const other = tmp('abi.kdcap');
  writeSample(other);
  const buf = fs.readFileSync(other);
  buf.writeUInt32LE(999, 12);
  fs.writeFileSync(other, buf);
  await assert.rejects(new ReplaySource({ file: other }).start(() => undefined), (e) => isKindlingError(e, 'KINDLING_ERR_CAPTURE_ABI'));
  await assert.rejects(new ReplaySource({ file: tmp('missing.kdcap') }).start(() => undefined), (e) => isKindlingError(e, 'KINDLING_ERR_IO'));
});

test('a record inside a sound block that overruns is reported at its own offset', async () => {
  const file = tmp('rec.kdcap');
  const rec = sockRecord({ payload: Buffer.from('abcd') });
  rec.writeUInt16LE(60000, 2);
  const w = new RecordingWriter(file, { createdAt: 'now', host: 'h', kernel: 'k', payloadBytes: 512 });
  w.write(rec, 1);
  w.close();
  const headerEnd = fs.readFileSync(file).length - rec.length - 16;
  const { error } = await replayAll(file);
  assert.ok(isKindlingError(error, 'KINDLING_ERR_CAPTURE_FORMAT'));
  assert.match((error as Error).message, new RegExp(`byte offset ${headerEnd + 16}: record of 60000 bytes runs past the end`));
});
