/**
 * Redis command names, for strict detection and for naming operations.
 * https://redis.io/docs/latest/commands/
 *
 * The set is Redis 7.0's `COMMAND LIST` plus the commands added up to 8.x (hash
 * field expiry, vector sets, WAITAOF, ...). Module commands (JSON.*, FT.*) are not
 * in it: a connection that only sends those is not detected as Redis.
 *
 * Example:
 *   commandName(bytes, 0, 3)   // "SET" for "set", "SET" or "sEt"; undefined for "FOO"
 *   isContainer("CONFIG")      // true: "CONFIG GET" is the operation
 */
import { latin1 } from './cursor';

const NAMES =
  'ACL APPEND ASKING AUTH BGREWRITEAOF BGSAVE BITCOUNT BITFIELD BITFIELD_RO BITOP BITPOS BLMOVE BLMPOP BLPOP ' +
  'BRPOP BRPOPLPUSH BZMPOP BZPOPMAX BZPOPMIN CLIENT CLUSTER COMMAND CONFIG COPY DBSIZE DEBUG DECR DECRBY DEL ' +
  'DISCARD DUMP ECHO EVAL EVALSHA EVALSHA_RO EVAL_RO EXEC EXISTS EXPIRE EXPIREAT EXPIRETIME FAILOVER FCALL ' +
  'FCALL_RO FLUSHALL FLUSHDB FUNCTION GEOADD GEODIST GEOHASH GEOPOS GEORADIUS GEORADIUSBYMEMBER ' +
  'GEORADIUSBYMEMBER_RO GEORADIUS_RO GEOSEARCH GEOSEARCHSTORE GET GETBIT GETDEL GETEX GETRANGE GETSET HDEL HELLO ' +
  'HEXISTS HEXPIRE HEXPIREAT HEXPIRETIME HGET HGETALL HGETDEL HGETEX HINCRBY HINCRBYFLOAT HKEYS HLEN HMGET HMSET ' +
  'HPERSIST HPEXPIRE HPEXPIREAT HPEXPIRETIME HPTTL HRANDFIELD HSCAN HSET HSETEX HSETNX HSTRLEN HTTL HVALS INCR ' +
  'INCRBY INCRBYFLOAT INFO KEYS LASTSAVE LATENCY LCS LINDEX LINSERT LLEN LMOVE LMPOP LOLWUT LPOP LPOS LPUSH ' +
  'LPUSHX LRANGE LREM LSET LTRIM MEMORY MGET MIGRATE MODULE MONITOR MOVE MSET MSETNX MULTI OBJECT PERSIST ' +
  'PEXPIRE PEXPIREAT PEXPIRETIME PFADD PFCOUNT PFDEBUG PFMERGE PFSELFTEST PING PSETEX PSUBSCRIBE PSYNC PTTL ' +
  'PUBLISH PUBSUB PUNSUBSCRIBE QUIT RANDOMKEY READONLY READWRITE RENAME RENAMENX REPLCONF REPLICAOF RESET ' +
  'RESTORE RESTORE-ASKING ROLE RPOP RPOPLPUSH RPUSH RPUSHX SADD SAVE SCAN SCARD SCRIPT SDIFF SDIFFSTORE SELECT ' +
  'SET SETBIT SETEX SETNX SETRANGE SHUTDOWN SINTER SINTERCARD SINTERSTORE SISMEMBER SLAVEOF SLOWLOG SMEMBERS ' +
  'SMISMEMBER SMOVE SORT SORT_RO SPOP SPUBLISH SRANDMEMBER SREM SSCAN SSUBSCRIBE STRLEN SUBSCRIBE SUBSTR SUNION ' +
  'SUNIONSTORE SUNSUBSCRIBE SWAPDB SYNC TIME TOUCH TTL TYPE UNLINK UNSUBSCRIBE UNWATCH VADD VCARD VDIM VEMB ' +
  'VGETATTR VINFO VLINKS VRANDMEMBER VREM VSETATTR VSIM WAIT WAITAOF WATCH XACK XACKDEL XADD XAUTOCLAIM XCLAIM ' +
  'XDEL XDELEX XGROUP XINFO XLEN XPENDING XRANGE XREAD XREADGROUP XREVRANGE XSETID XTRIM ZADD ZCARD ZCOUNT ZDIFF ' +
  'ZDIFFSTORE ZINCRBY ZINTER ZINTERCARD ZINTERSTORE ZLEXCOUNT ZMPOP ZMSCORE ZPOPMAX ZPOPMIN ZRANDMEMBER ZRANGE ' +
  'ZRANGEBYLEX ZRANGEBYSCORE ZRANGESTORE ZRANK ZREM ZREMRANGEBYLEX ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREVRANGE ' +
  'ZREVRANGEBYLEX ZREVRANGEBYSCORE ZREVRANK ZSCAN ZSCORE ZUNION ZUNIONSTORE';

const COMMANDS: ReadonlySet<string> = new Set(NAMES.split(' '));

/** Commands whose first argument is a subcommand: the operation is both words ("CONFIG GET"). */
const CONTAINERS: ReadonlySet<string> = new Set(
  'ACL CLIENT CLUSTER COMMAND CONFIG FUNCTION LATENCY MEMORY MODULE OBJECT PUBSUB SCRIPT SLOWLOG XGROUP XINFO'.split(' '),
);

/** Commands that may wait indefinitely for their reply: never expired while at the head of the queue. */
const BLOCKING: ReadonlySet<string> = new Set('BLMOVE BLMPOP BLPOP BRPOP BRPOPLPUSH BZMPOP BZPOPMAX BZPOPMIN WAIT WAITAOF XREAD XREADGROUP'.split(' '));

export const MAX_COMMAND_LENGTH = 20;

// the spellings seen so far, to their canonical upper-case name (bounded: odd casings are rare)
const spellings = new Map<string, string>();
const MAX_SPELLINGS = 4096;

/** The canonical (upper-case) name of the command spelled by `bytes[start, end)`, if Redis has it. */
export function commandName(bytes: Uint8Array, start: number, end: number): string | undefined {
  const n = end - start;
  if (n < 3 || n > MAX_COMMAND_LENGTH || start < 0 || end > bytes.length) return undefined;
  return knownCommand(latin1(bytes, start, end));
}

/** The canonical name of a command spelled `raw` (any case), if Redis has it. */
export function knownCommand(raw: string): string | undefined {
  const hit = spellings.get(raw);
  if (hit !== undefined) return hit;
  if (raw.length < 3 || raw.length > MAX_COMMAND_LENGTH) return undefined;
  const upper = raw.toUpperCase();
  if (!COMMANDS.has(upper)) return undefined;
  if (spellings.size < MAX_SPELLINGS) spellings.set(raw, upper);
  return upper;
}

export function isContainer(name: string): boolean {
  return CONTAINERS.has(name);
}

export function isBlocking(name: string): boolean {
  return BLOCKING.has(name);
}

/** A subcommand worth naming: a short word (letters, digits, '-', '_'), as Redis's subcommands are. */
export function subcommandName(raw: string | undefined): string | undefined {
  return raw !== undefined && SUBCOMMAND.test(raw) ? raw.toUpperCase() : undefined;
}

const SUBCOMMAND = /^[A-Za-z][A-Za-z0-9_-]{0,23}$/;
