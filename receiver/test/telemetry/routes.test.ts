import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteTemplater, targetPath, templatePath } from '../../src/telemetry/routes';

test('the query and fragment never reach the route; absolute-form targets reduce to their path', () => {
  assert.equal(targetPath('/search?q=secret&token=1'), '/search');
  assert.equal(targetPath('/a#frag'), '/a');
  assert.equal(targetPath('http://example.com:8080/x/y?z=1'), '/x/y');
  assert.equal(targetPath('http://example.com'), '/');
  assert.equal(targetPath(''), '/');
  assert.equal(targetPath('*'), '*');
});

test('identifier segments become placeholders', () => {
  assert.equal(templatePath('/users/42/orders/7'), '/users/{id}/orders/{id}');
  assert.equal(templatePath('/o/9f1c3a2e-44b1-4c55-9a0e-3f1d2c4b5a6e'), '/o/{uuid}');
  assert.equal(templatePath('/commit/3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f'), '/commit/{hex}');
  assert.equal(templatePath('/reset/eyJhbGciOiJIUzI1NiJ9abc123XYZ'), '/reset/{token}');
  assert.equal(templatePath('/static/app.css'), '/static/app.css');
  assert.equal(templatePath('/api/v2/health'), '/api/v2/health');
  assert.equal(templatePath('/deadbeef'), '/deadbeef', 'all-letter hex words stay');
});

test('each service keeps at most N routes; the rest share the overflow route', () => {
  const r = new RouteTemplater({ maxRoutesPerService: 2 });
  assert.equal(r.route('a', '/one'), '/one');
  assert.equal(r.route('a', '/two?x'), '/two');
  assert.equal(r.route('a', '/three'), '/{other}');
  assert.equal(r.route('a', '/one'), '/one', 'known routes still pass');
  assert.equal(r.route('b', '/three'), '/three', 'the cap is per service');
  assert.equal(r.overflowed, 1);
});

test('templating can be switched off', () => {
  const r = new RouteTemplater({ templating: false });
  assert.equal(r.route('a', '/users/42?x=1'), '/users/42');
});
