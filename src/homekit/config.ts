/**
 * The plugin's config block, checked before anything starts: a misconfigured plugin says what
 * is wrong and stays idle instead of throwing at Homebridge. Mirrors config.schema.json.
 */
import { Type, type Static } from 'typebox';
import { validate } from '../protocol/clause7/validate.js';
import { DEVICE_ID_PATTERN } from '../protocol/bytes.js';

const Address = Type.String({ pattern: '^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$', description: 'a Bluetooth address like 00:1A:7D:DA:71:13' });

export const PluginConfigSchema = Type.Object({
  platform: Type.String(),
  name: Type.Optional(Type.String({ maxLength: 64 })),
  rasUrl: Type.String({ pattern: '^https?://[^\\s/]+/?$', description: 'the RAS address, like https://ras.example.com:8480' }),
  identifier: Type.Optional(Type.String({ maxLength: 254 })),
  password: Type.Optional(Type.String({ maxLength: 1024 })),
  adapter: Type.Optional(Address),
  gatewayName: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  idleSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 50, description: 'a whole number of seconds from 0 to 50' })),
  operationTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 3, maximum: 30, description: 'a whole number of seconds from 3 to 30' })),
  companyId: Type.Optional(Type.Integer({ minimum: 0, maximum: 0xffff, description: 'a Bluetooth company ID, 0 to 65535' })),
  locks: Type.Optional(
    Type.Array(
      Type.Object({
        deviceId: Type.String({ pattern: DEVICE_ID_PATTERN.source, description: '12 upper-case hex digits' }),
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        hideDoorSensor: Type.Optional(Type.Boolean()),
      }),
      { maxItems: 64 },
    ),
  ),
  debug: Type.Optional(Type.Boolean()),
});

export type PluginConfig = Static<typeof PluginConfigSchema>;

export interface ResolvedConfig {
  name: string;
  rasUrl: string;
  login?: { identifier: string; password: string };
  adapter?: string;
  gatewayName: string;
  idleMs: number;
  operationTimeoutMs: number;
  companyId: number;
  locks: Map<string, { name?: string; hideDoorSensor: boolean }>;
  debug: boolean;
}

export type ConfigResult = { ok: true; config: ResolvedConfig } | { ok: false; problem: string };

export function resolveConfig(raw: unknown): ConfigResult {
  const checked = validate(PluginConfigSchema, raw);
  if (!checked.ok) {
    const { field, message } = checked.error;
    return { ok: false, problem: field ? `the "${field}" setting ${message.slice(field.length + 2)}` : `the settings are not an object (${message})` };
  }
  const c = checked.value;
  const url = new URL(c.rasUrl);
  if ((c.identifier === undefined) !== (c.password === undefined)) {
    return { ok: false, problem: 'config: give both identifier and password, or neither (and sign in from the plugin settings)' };
  }
  return {
    ok: true,
    config: {
      name: c.name ?? 'IGRS Smart Lock',
      rasUrl: url.origin,
      ...(c.identifier !== undefined && c.password !== undefined ? { login: { identifier: c.identifier, password: c.password } } : {}),
      ...(c.adapter ? { adapter: c.adapter.toUpperCase() } : {}),
      gatewayName: c.gatewayName ?? 'Homebridge',
      idleMs: (c.idleSeconds ?? 20) * 1000,
      operationTimeoutMs: (c.operationTimeoutSeconds ?? 10) * 1000,
      companyId: c.companyId ?? 0xffff,
      locks: new Map((c.locks ?? []).map((l) => [l.deviceId, { ...(l.name ? { name: l.name } : {}), hideDoorSensor: l.hideDoorSensor ?? false }])),
      debug: c.debug ?? false,
    },
  };
}
