import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../src/homekit/config.js';

const schema = JSON.parse(readFileSync('config.schema.json', 'utf8')) as {
  pluginAlias: string;
  pluginType: string;
  schema: { properties: Record<string, { default?: unknown }> };
  layout: unknown[];
};
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as Record<string, unknown>;

describe('plugin config', () => {
  const base = { platform: 'IgrsSmartLock', rasUrl: 'https://ras.example.com:8480' };

  it('resolves a minimal block with the schema defaults', () => {
    const r = resolveConfig(base);
    assert.ok(r.ok);
    assert.equal(r.config.rasUrl, 'https://ras.example.com:8480');
    assert.equal(r.config.idleMs, (schema.schema.properties.idleSeconds!.default as number) * 1000);
    assert.equal(r.config.operationTimeoutMs, (schema.schema.properties.operationTimeoutSeconds!.default as number) * 1000);
    assert.equal(r.config.companyId, schema.schema.properties.companyId!.default);
    assert.equal(r.config.gatewayName, schema.schema.properties.gatewayName!.default);
    assert.equal(r.config.login, undefined);
  });

  for (const [why, block, field] of [
    ['no RAS URL', { platform: 'IgrsSmartLock' }, 'rasUrl'],
    ['a RAS URL with a path', { ...base, rasUrl: 'https://x/y' }, 'rasUrl'],
    ['an idle time above the lock session', { ...base, idleSeconds: 61 }, 'idleSeconds'],
    ['a bad adapter address', { ...base, adapter: 'hci0' }, 'adapter'],
    ['a lower-case device id', { ...base, locks: [{ deviceId: 'a4c138f0e1d2' }] }, 'locks[0].deviceId'],
  ] as const) {
    it(`refuses ${why}, naming the field`, () => {
      const r = resolveConfig(block);
      assert.equal(r.ok, false);
      assert.match((r as { problem: string }).problem, new RegExp(field.replace(/[[\]]/g, '\\$&')));
    });
  }

  it('wants identifier and password together', () => {
    const r = resolveConfig({ ...base, identifier: 'a@b.example' });
    assert.equal(r.ok, false);
  });

  it('never throws on garbage', () => {
    for (const junk of [null, undefined, 42, 'x', [], { rasUrl: {} }, { platform: 1, rasUrl: 'https://a' }]) {
      assert.equal(resolveConfig(junk).ok, false);
    }
  });

  it('config.schema.json and package.json meet Homebridge\'s plugin conventions', () => {
    assert.equal(schema.pluginAlias, 'IgrsSmartLock');
    assert.equal(schema.pluginType, 'platform');
    assert.ok(schema.schema.properties.name);
    assert.ok((pkg.keywords as string[]).includes('homebridge-plugin'));
    assert.match(pkg.name as string, /^homebridge-/);
    assert.ok((pkg.engines as Record<string, string>).homebridge);
    const deps = Object.keys((pkg.dependencies as Record<string, string> | undefined) ?? {});
    assert.ok(!deps.includes('homebridge') && !deps.some((d) => d.includes('hap-nodejs')), 'homebridge and hap-nodejs are never dependencies');
    const scripts = Object.keys((pkg.scripts as Record<string, string> | undefined) ?? {});
    for (const s of ['preinstall', 'install', 'postinstall']) assert.ok(!scripts.includes(s), `no ${s} script`);
  });
});
