/**
 * Pub/sub state of one Redis connection, from the confirmations the server sends.
 * https://redis.io/docs/latest/develop/interact/pubsub/
 *
 * Each (P|S)(UN)SUBSCRIBE is answered by one confirmation per channel (a RESP2 array
 * or a RESP3 push): [kind, channel, count]. For channels and patterns the count is
 * the connection's channels plus patterns; for shard channels, shard channels alone.
 * The differences tell channels from patterns, which is what a bare UNSUBSCRIBE
 * (one confirmation per channel it drops, or one when there is none) needs to know
 * when it is done. While anything is subscribed, a RESP2 connection receives
 * messages as arrays ["message", channel, payload] / ["pmessage", pattern, channel,
 * payload] / ["smessage", ...]: pushes, not replies.
 *
 * Example:
 *   const p = new PubSub();
 *   p.onConfirmation('subscribe', '1');     // false; p.subscribed === true
 *   p.onConfirmation('unsubscribe', '0');   // true: no channel left
 */

const KINDS: Readonly<Record<string, string>> = {
  SUBSCRIBE: 'subscribe',
  PSUBSCRIBE: 'psubscribe',
  SSUBSCRIBE: 'ssubscribe',
  UNSUBSCRIBE: 'unsubscribe',
  PUNSUBSCRIBE: 'punsubscribe',
  SUNSUBSCRIBE: 'sunsubscribe',
};
const CONFIRMATIONS = new Set(Object.values(KINDS));
const MESSAGES = new Set(['message', 'pmessage', 'smessage']);

export function isMessageKind(kind: string | undefined): boolean {
  return kind !== undefined && MESSAGES.has(kind);
}

export class PubSub {
  #channels = 0;
  #patterns = 0;
  #shards = 0;
  /** the last count of channels plus patterns */
  #total = 0;

  /** The confirmation kind a command is answered with, if it is one of the (un)subscribe family. */
  static confirmationKind(command: string | undefined): string | undefined {
    return command === undefined ? undefined : KINDS[command];
  }

  static isConfirmation(kind: string): boolean {
    return CONFIRMATIONS.has(kind);
  }

  get subscribed(): boolean {
    return this.#channels + this.#patterns + this.#shards > 0;
  }

  /** Follows a confirmation; true when the kind it concerns has nothing subscribed any more. */
  onConfirmation(kind: string, countText: string | undefined): boolean {
    const count = countText !== undefined && /^\d{1,9}$/.test(countText) ? Number(countText) : undefined;
    const shard = kind === 'ssubscribe' || kind === 'sunsubscribe';
    const pattern = kind === 'psubscribe' || kind === 'punsubscribe';
    if (count !== undefined) {
      if (shard) this.#shards = count;
      else {
        if (pattern) this.#patterns = Math.max(0, this.#patterns + count - this.#total);
        else this.#channels = Math.max(0, this.#channels + count - this.#total);
        this.#total = count;
      }
    }
    if (kind === 'unsubscribe') return this.#channels === 0;
    if (kind === 'punsubscribe') return this.#patterns === 0;
    if (kind === 'sunsubscribe') return this.#shards === 0;
    return false;
  }

  reset(): void {
    this.#channels = this.#patterns = this.#shards = this.#total = 0;
  }
}
