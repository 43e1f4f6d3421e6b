// Regression: nginx with `sendfile on` (Debian's default configuration) sends static bodies with
// sendfile(2), which was not hooked: the parser waited for body bytes that never came, and the
// keep-alive connection's later requests failed as connection_closed.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { SpanKind } from '@opentelemetry/api';
import { Agent } from '../../src/agent';
import { loadConfig } from '../../src/config/config';
import { MemorySpanExporter } from '../../src/export/console-spans';
import { startNginx } from '../../../bench/lib/nginx';
import { kernelTest } from '../helpers/kernel';

kernelTest('static files sent with sendfile: three requests on one keep-alive connection, three complete server spans', async () => {
  const nginx = await startNginx({ sendfile: true });
  const mem = new MemorySpanExporter();
  const agent = new Agent(loadConfig({ env: { OTEL_METRICS_EXPORTER: 'none' } }), { log: () => undefined, spanExporters: [mem], metricExporters: [], kubernetes: null });
  await agent.start();
  try {
    await new Promise<void>((res, rej) => execFile('curl', ['-s', '-o', '/dev/null', nginx.url, nginx.url, nginx.url], (e) => (e ? rej(e) : res())));
    const deadline = Date.now() + 10_000;
    const servers = () => mem.spans.filter((s) => s.kind === SpanKind.SERVER && s.attributes['server.port'] === nginx.port);
    while (servers().length < 3 && Date.now() < deadline) {
      await agent.spans.flush();
      await new Promise((r) => setTimeout(r, 100));
    }
    const got = servers();
    assert.equal(got.length, 3);
    for (const s of got) {
      assert.equal(s.attributes['http.response.status_code'], 200);
      assert.equal(s.attributes['error.type'], undefined);
      assert.ok(Number(s.attributes['http.response.body.size']) > 0, 'the body length came from sendfile');
    }
    assert.equal(agent.httpStats.expired, 0);
    assert.ok(agent.source.stats().hooks.sendfile.emitted >= 3);
  } finally {
    await agent.stop();
    await nginx.close();
  }
});
