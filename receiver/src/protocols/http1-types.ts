/**
 * The public shapes of the HTTP/1 parser (http1.ts re-exports them): what a message
 * reports, the events push() returns, the options and the self-telemetry counters.
 */

/** The only headers kept (privacy: nothing else is retained), values trimmed. */
export interface HttpHeaders {
  host?: string;
  contentLength?: number;
  transferEncoding?: string;
  connection?: string;
  contentType?: string;
  userAgent?: string;
  traceparent?: string;
  tracestate?: string;
}

export interface HttpMessage {
  type: 'request' | 'response';
  /** request line; the target as sent, query included (the caller strips it) */
  method?: string;
  target?: string;
  /** response status code */
  status?: number;
  version: '1.0' | '1.1';
  headers: HttpHeaders;
  /** decoded body bytes per the framing (0 when it has none); undefined when unknown */
  bodySize?: number;
  /** enterNs of the segment carrying the message's first byte */
  startNs: number;
  /** exitNs of the segment carrying its last byte */
  endNs: number;
  /** head or framing was lost to capture truncation, or the connection closed mid-message */
  truncated: boolean;
  /** 1xx other than 101: not a final response */
  informational: boolean;
  /** 101, or a 2xx answer to CONNECT: the stream stops being HTTP after it */
  upgrade: boolean;
  /** per version and Connection header */
  keepAlive: boolean;
}

export type Http1Event =
  | { kind: 'message'; message: HttpMessage }
  /** `atNs`: enterNs of the segment where the problem was seen */
  | { kind: 'error'; reason: string; atNs: number };

export interface Http1ParserOptions {
  /** which kind of messages this direction carries */
  side: 'request' | 'response';
  /**
   * Responses: the method of the request being answered (HEAD → no body, CONNECT + 2xx
   * → upgrade). Called during push() when a final response's head needs it, with the
   * ordinal of that final response on this connection (0, 1, ...; 1xx other than 101
   * are not counted): several pipelined responses in one segment are all framed before
   * push() returns, so index the pending requests rather than popping one per call.
   */
  requestMethod?: (finalResponseIndex: number) => string | undefined;
  /** default 65536: a head (or trailer section, or chunk-size line) longer than this is an error, not a buffer */
  maxHeaderBytes?: number;
}

export interface Http1Stats {
  messages: number;
  errors: number;
  /** times the parser lost its place (an error, or a head or chunk-size line lost to truncation) */
  resyncs: number;
  /** segments ignored while waiting for a message start, after an upgrade, or after end() */
  skippedSegments: number;
}
