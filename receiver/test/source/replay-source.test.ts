import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplaySource } from '../../src/source/replay-source';
import { RecordingReader } from '../../src/source/recording';
import { isKindlingError } from '../../src/errors';
import type { TrafficManifest } from '../helpers/traffic';
import { FIXTURE } from '../fixtures/make-traffic-fixture';
import { sourceContract } from './contract';

// the replay source, on a capture of the traffic program recorded on a real kernel
sourceContract(
  'replay source',
  async () => {
    const reader = new RecordingReader(FIXTURE());
    const meta = reader.header.meta as { manifest: TrafficManifest; payloadBytes: number };
    reader.close();
    const source = new ReplaySource({ file: FIXTURE() });
    return {
      source,
      payloadBytes: meta.payloadBytes,
      drive: async () => meta.manifest,
      settle: () => source.finished,
      dispose: () => undefined,
    };
  },
  false,
);

test('ReplaySource refuses a missing file name with a clear error', () => {
  assert.throws(() => new ReplaySource({ file: '' }), (e) => isKindlingError(e, 'KINDLING_ERR_INVALID_OPTION'));
});
