/**
 * Replays a capture file: the same batches the live source delivered, decoded
 * by the same decoder, so both yield identical events.
 *
 * Example:
 *   const replay = new ReplaySource({ file: 'curl.kdcap' });
 *   await replay.start((b) => events.push(...b.events));
 *   await replay.finished; // rejects with KINDLING_ERR_CAPTURE_FORMAT on a damaged file
 */
import { decodeBatch } from '../events/decode';
import { KindlingError } from '../errors';
import { deferred, emptyHookStats } from './event-source';
import type { EventSource, SourceBatch, SourceStats, StartReport } from './event-source';
import { RecordingReader } from './recording';
import type { RecordingHeader } from './recording';

export interface ReplaySourceOptions {
  file: string;
}

export class ReplaySource implements EventSource {
  readonly name = 'replay';
  readonly file: string;
  #reader: RecordingReader | undefined;
  #done = deferred();
  #stopped = false;
  #events = 0;
  #bytes = 0;
  #batches = 0;
  #malformed = 0;
  #unknown = 0;

  constructor(options: ReplaySourceOptions) {
    if (!options || typeof options.file !== 'string' || options.file === '') {
      throw new KindlingError('KINDLING_ERR_INVALID_OPTION', 'ReplaySource needs { file: path of a .kdcap capture }');
    }
    this.file = options.file;
  }

  get finished(): Promise<void> {
    return this.#done.promise;
  }

  /** The recording's header, once started. */
  get header(): RecordingHeader | undefined {
    return this.#reader?.header;
  }

  async start(onBatch: (batch: SourceBatch) => void): Promise<StartReport> {
    if (this.#reader) throw new KindlingError('KINDLING_ERR_ALREADY_STARTED', 'this source is already started');
    this.#reader = new RecordingReader(this.file); // throws at once on a bad file header
    setImmediate(() => this.#pump(onBatch));
    return { programs: [] };
  }

  // one block per turn of the event loop, like the live source's batches
  #pump(onBatch: (batch: SourceBatch) => void): void {
    const reader = this.#reader;
    if (this.#stopped || !reader) return;
    let block;
    try {
      block = reader.next();
    } catch (e) {
      reader.close();
      this.#done.reject(e);
      return;
    }
    if (!block) {
      reader.close();
      this.#done.resolve();
      return;
    }
    const r = decodeBatch(block.raw);
    this.#events += r.events.length;
    this.#bytes += block.raw.byteLength;
    this.#batches++;
    this.#unknown += r.unknown;
    if (r.error) this.#malformed++;
    try {
      onBatch({ events: r.events, raw: block.raw });
    } catch (e) {
      reader.close();
      this.#done.reject(e);
      return;
    }
    setImmediate(() => this.#pump(onBatch));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#reader?.close();
    this.#done.resolve();
  }

  stats(): SourceStats {
    return {
      events: this.#events,
      bytes: this.#bytes,
      batches: this.#batches,
      malformedBatches: this.#malformed,
      unknownRecords: this.#unknown,
      hooks: emptyHookStats(),
      lost: {},
      ring: { size: 0, used: 0 },
    };
  }
}
