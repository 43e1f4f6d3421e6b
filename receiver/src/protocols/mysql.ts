/**
 * MySQL and MariaDB client/server protocol: detection and the session factory.
 * https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html
 * https://mariadb.com/kb/en/clientserver-protocol/
 *
 * A connection is recognised by the server's greeting (the first packet of
 * every connection), or, when capture began after its handshake, by a
 * COM_QUERY / COM_STMT_PREPARE with SQL text (see mysql-detect.ts). Whoever
 * sends the greeting or receives the command is the server. Each command
 * becomes one DbOperationRecord: db.system.name 'mariadb' when the greeting's
 * version says MariaDB, else 'mysql' (also for connections picked up after
 * their handshake, whose server is unknown).
 *
 * The files: mysql-wire.ts (packet decoders), mysql-framer.ts (packets across
 * segments and truncation), mysql-response.ts (one response's packets),
 * mysql-commands.ts (what a command says), mysql-statements.ts (prepared
 * statements), mysql-session.ts (handshake, pairing, records).
 *
 * Example:
 *   const agent = new Agent(config, { protocols: [mysqlDetector] });
 *   // mariadbd's greeting on 127.0.0.1:3306 → a 'server' session for mariadbd, a 'client' one for its peer;
 *   // "SELECT * FROM users WHERE id = 7" → a span "SELECT users", db.query.text "SELECT * FROM users WHERE id = ?"
 */
import type { ProtocolContext, ProtocolFactory } from './context';
import type { Detector } from './registry';
import { looksLikeCommand, looksLikeCommandPayload, looksLikeGreeting } from './mysql-detect';
import { MysqlSession } from './mysql-session';

export { looksLikeCommand, looksLikeCommandPayload, looksLikeGreeting } from './mysql-detect';
export { MysqlSession } from './mysql-session';
export type { MysqlSessionInfo } from './mysql-session';

export const mysqlDetector: ProtocolFactory = (ctx: ProtocolContext): Detector => {
  const stats = ctx.stats('mysql');
  return {
    protocol: 'mysql',
    detect(direction, data) {
      // the server speaks first: whoever sends the greeting is the server
      if (looksLikeGreeting(data)) return direction === 'egress' ? 'server' : 'client';
      if (looksLikeCommand(data)) return direction === 'egress' ? 'client' : 'server';
      // a server reading a command's payload apart from its header (detect() sees no true length)
      if (direction === 'ingress' && looksLikeCommandPayload(data, data.length)) return 'server';
      return undefined;
    },
    create(role) {
      return new MysqlSession(role, { ctx, stats });
    },
  };
};
