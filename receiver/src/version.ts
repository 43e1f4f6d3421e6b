/** Versions reported in telemetry.distro.version and telemetry.sdk.version. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from './util/paths';

function read(file: string): string {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const VERSION = {
  kindling: read(path.join(packageRoot(), 'package.json')),
  otelSdk: read(path.join(packageRoot(), 'node_modules', '@opentelemetry', 'sdk-metrics', 'package.json')),
};
