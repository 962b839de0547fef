/**
 * config.schema.json against the conventions of Homebridge UI's schema form, and against the
 * plugin's own config check (src/homekit/config.ts), so that the form and the plugin never
 * disagree about what a valid setting is.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { PluginConfigSchema, resolveConfig } from '../../src/homekit/config.js';
import { ROOT } from './support/published.js';
import { layoutKeys, leafKeys, resolveKey, type LayoutItem, type PluginSchema, type SchemaProperty } from './support/schema-form.js';

const schema = JSON.parse(readFileSync(path.join(ROOT, 'config.schema.json'), 'utf8')) as PluginSchema;
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };

/** The JSON Schema keywords the file uses, checked the way Ajv does (patterns with the u flag). */
function problems(prop: SchemaProperty, value: unknown): string[] {
  const out: string[] = [];
  switch (prop.type) {
    case 'string':
      if (typeof value !== 'string') return ['not a string'];
      if (prop.pattern && !new RegExp(prop.pattern, 'u').test(value)) out.push(`does not match ${prop.pattern}`);
      if (prop.minLength !== undefined && value.length < prop.minLength) out.push('too short');
      if (prop.maxLength !== undefined && value.length > prop.maxLength) out.push('too long');
      break;
    case 'integer':
      if (!Number.isInteger(value)) return ['not an integer'];
      if (prop.minimum !== undefined && (value as number) < prop.minimum) out.push('below minimum');
      if (prop.maximum !== undefined && (value as number) > prop.maximum) out.push('above maximum');
      break;
    case 'boolean':
      if (typeof value !== 'boolean') out.push('not a boolean');
      break;
    default:
      break;
  }
  return out;
}

function allProperties(props: Record<string, SchemaProperty>, prefix = ''): [string, SchemaProperty][] {
  return Object.entries(props).flatMap(([name, p]): [string, SchemaProperty][] => [
    [`${prefix}${name}`, p],
    ...(p.items?.properties ? allProperties(p.items.properties, `${prefix}${name}[].`) : []),
  ]);
}

function fieldsets(items: LayoutItem[]): Exclude<LayoutItem, string>[] {
  return items.flatMap((i) => (typeof i === 'string' ? [] : [...(i.type === 'fieldset' ? [i] : []), ...fieldsets(i.items ?? [])]));
}

describe('config.schema.json (Homebridge UI form)', () => {
  it('turns the custom settings page on, and the package ships it with its server script', () => {
    assert.equal(schema.customUi, true);
    assert.equal(schema.singular, true, 'showSchemaForm() needs a singular platform');
    assert.ok(existsSync(path.join(ROOT, 'homebridge-ui/public/index.html')));
    assert.ok(existsSync(path.join(ROOT, 'homebridge-ui/server.js')));
    assert.ok(pkg.files.includes('homebridge-ui') && pkg.files.includes('dist'));
    assert.match(pkg.dependencies['@homebridge/plugin-ui-utils'] ?? '', /^\^2\./, 'plugin-ui-utils 2.x is a runtime dependency');
  });

  it('names only keys that exist, and shows every setting exactly once', () => {
    const keys = layoutKeys(schema.layout);
    for (const key of keys) assert.ok(resolveKey(schema, key), `layout key ${key} exists in the schema`);
    const shown = keys.filter((k) => !resolveKey(schema, k)!.items);
    for (const leaf of leafKeys(schema.schema.properties)) {
      assert.equal(shown.filter((k) => k === leaf).length, 1, `${leaf} is in the layout once`);
    }
  });

  it('gives every setting a title, every section a title, and help where a value has a format', () => {
    for (const [key, prop] of allProperties(schema.schema.properties)) {
      assert.ok(prop.title, `${key} has a title`);
      if (prop.pattern || prop.type === 'integer') assert.ok(prop.description, `${key} explains its format`);
    }
    for (const set of fieldsets(schema.layout)) assert.ok(set.title, 'every fieldset has a title');
  });

  it('marks required fields the schema-form way and requires exactly the RAS address and a lock\'s device ID', () => {
    const required = allProperties(schema.schema.properties).filter(([, p]) => p.required !== undefined);
    for (const [key, prop] of required) assert.equal(typeof prop.required, 'boolean', `${key}: required is true/false on the property`);
    assert.deepEqual(required.filter(([, p]) => p.required).map(([k]) => k), ['rasUrl', 'locks[].deviceId']);
  });

  it('has patterns that compile for Ajv (u) and for browsers\' pattern attribute (v), and placeholders that match them', () => {
    for (const [key, prop] of allProperties(schema.schema.properties)) {
      if (!prop.pattern) continue;
      assert.doesNotThrow(() => new RegExp(prop.pattern!, 'u'), `${key} compiles with u`);
      assert.doesNotThrow(() => new RegExp(prop.pattern!, 'v'), `${key} compiles with v`);
      if (prop.placeholder) assert.deepEqual(problems(prop, prop.placeholder), [], `${key}'s placeholder is a valid example`);
    }
  });

  it('has defaults that are valid values of their own settings', () => {
    for (const [key, prop] of allProperties(schema.schema.properties)) {
      if (prop.default === undefined) continue;
      assert.deepEqual(problems(prop, prop.default), [], `${key}'s default`);
    }
  });

  it('describes the same settings as the plugin\'s own check, and a form filled with defaults starts the plugin', () => {
    const plugin = Object.keys(PluginConfigSchema.properties).filter((k) => k !== 'platform').sort();
    assert.deepEqual(Object.keys(schema.schema.properties).sort(), plugin);
    const defaults = Object.fromEntries(Object.entries(schema.schema.properties).filter(([, p]) => p.default !== undefined).map(([k, p]) => [k, p.default]));
    const resolved = resolveConfig({ platform: schema.pluginAlias, ...defaults, rasUrl: 'https://ras.example.com:8480', locks: [{ deviceId: 'A4C138F0E1D2', name: 'Front door' }] });
    assert.ok(resolved.ok, resolved.ok ? '' : resolved.problem);
  });

  it('agrees with the plugin on which RAS addresses, adapters and device IDs are valid', () => {
    const samples: Record<string, [string, boolean][]> = {
      rasUrl: [['https://ras.example.com:8480', true], ['http://127.0.0.1:8480/', true], ['https://ras.example.com/v1', false], ['ras.example.com', false]],
      adapter: [['00:1A:7D:DA:71:13', true], ['hci0', false]],
      'locks[].deviceId': [['A4C138F0E1D2', true], ['a4c138f0e1d2', false]],
    };
    for (const [key, cases] of Object.entries(samples)) {
      const prop = resolveKey(schema, key)!;
      for (const [value, valid] of cases) {
        assert.equal(problems(prop, value).length === 0, valid, `form: ${key} = ${value}`);
        const block = key === 'locks[].deviceId'
          ? { platform: 'IgrsSmartLock', rasUrl: 'https://ras.example.com', locks: [{ deviceId: value }] }
          : { platform: 'IgrsSmartLock', rasUrl: 'https://ras.example.com', [key]: value };
        assert.equal(resolveConfig(block).ok, valid, `plugin: ${key} = ${value}`);
      }
    }
  });
});
