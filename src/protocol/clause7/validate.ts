/**
 * Validation of untrusted JSON against the Clause 7 schemas. Everything here answers with a
 * result, never an exception, because its input comes from the network: a RAS handler or a
 * RAC turns a `ValidationError` into 7.7's "status 400 naming the field" and nothing else.
 */
import { type Static, type TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { type TLocalizedValidationError } from 'typebox/error';
import { Settings } from 'typebox/system';
import { Value } from 'typebox/value';
import { Status } from './status.js';

/** 7.7: "Bodies over 64 KiB are refused." */
export const MAX_BODY_BYTES = 65536;

export type ValidationErrorKind = 'size' | 'json' | 'schema';

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  /** Table 1 has no 413, so even an oversized body is a malformed one. */
  readonly status = Status.BadRequest;

  constructor(
    readonly kind: ValidationErrorKind,
    /** Dotted path of the first bad field, e.g. `body.frames[1]`; `''` for the whole value. */
    readonly field: string,
    /** The same place as a JSON pointer, e.g. `/body/frames/1`. */
    readonly pointer: string,
    reason: string,
  ) {
    super(`${field || '(root)'}: ${reason}`);
  }
}

export type Validated<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ValidationError };

export interface ValidateOptions {
  /** Convert strings to numbers and booleans first: only for path parameters and query strings. */
  readonly coerce?: boolean;
}

const validators = new WeakMap<TSchema, Validator>();

/** The compiled validator of a schema, compiled once per schema object. */
export function validatorFor(schema: TSchema): Validator {
  let validator = validators.get(schema);
  if (!validator) {
    validator = Compile<TSchema>(schema);
    validators.set(schema, validator);
  }
  return validator;
}

/**
 * TypeBox keeps 8 errors by default, too few to see every branch of `Push`; the budget is lifted
 * for this one synchronous call (as TypeBox does for its own Parse) and still bounded.
 */
const ERROR_BUDGET = 256;

function errorsOf(validator: Validator, value: unknown): TLocalizedValidationError[] {
  const saved = Settings.Get().maxErrors;
  Settings.Set({ maxErrors: ERROR_BUDGET });
  try {
    return validator.Errors(value);
  } finally {
    Settings.Set({ maxErrors: saved });
  }
}

/** Returns only the fields the schema declares, so unknown fields never reach typed code. */
export function validate<S extends TSchema>(schema: S, value: unknown, options: ValidateOptions = {}): Validated<Static<S>> {
  try {
    const input = options.coerce ? Value.Convert(schema, value) : value;
    const validator = validatorFor(schema);
    if (validator.Check(input)) return { ok: true, value: project(schema, input) as Static<S> };
    return { ok: false, error: describe(schema, input, errorsOf(validator, input)) };
  } catch {
    // Only a hostile value (a throwing getter, a Proxy) or a stack overflow gets here.
    return { ok: false, error: new ValidationError('schema', '', '', 'cannot be validated') };
  }
}

/** `validate`, throwing the `ValidationError`, for code whose caller already maps it to 400. */
export function assertValid<S extends TSchema>(schema: S, value: unknown, options?: ValidateOptions): Static<S> {
  const result = validate(schema, value, options);
  if (!result.ok) throw result.error;
  return result.value;
}

/** Refuses over-long input before parsing it, so a huge body costs no parse. */
export function parseJson(text: string | Uint8Array, maxBytes = MAX_BODY_BYTES): Validated<unknown> {
  const fail = (kind: ValidationErrorKind, reason: string) => ({ ok: false, error: new ValidationError(kind, '', '', reason) }) as const;
  try {
    let source: string;
    if (typeof text === 'string') {
      // UTF-8 never takes fewer bytes than UTF-16 code units, so the cheap test comes first.
      if (text.length > maxBytes || Buffer.byteLength(text, 'utf8') > maxBytes) return fail('size', `must be at most ${maxBytes} bytes`);
      source = text;
    } else if (text instanceof Uint8Array) {
      if (text.byteLength > maxBytes) return fail('size', `must be at most ${maxBytes} bytes`);
      source = new TextDecoder('utf-8', { fatal: true }).decode(text);
    } else {
      return fail('json', 'must be JSON text');
    }
    return { ok: true, value: JSON.parse(source) as unknown };
  } catch {
    return fail('json', 'must be well-formed JSON in UTF-8');
  }
}

/** `parseJson` then `validate`: a whole HTTP body or WebSocket message in one call. */
export function decode<S extends TSchema>(schema: S, text: string | Uint8Array, maxBytes = MAX_BODY_BYTES): Validated<Static<S>> {
  const parsed = parseJson(text, maxBytes);
  return parsed.ok ? validate(schema, parsed.value) : parsed;
}

// Output projection

type Node = Readonly<Record<string, unknown>>;
const isNode = (x: unknown): x is Node => typeof x === 'object' && x !== null && !Array.isArray(x);

function project(schema: unknown, value: unknown): unknown {
  if (!isNode(schema)) return value;
  if (Array.isArray(schema.anyOf)) {
    const branch: unknown = schema.anyOf.find((b: unknown) => isNode(b) && validatorFor(b as TSchema).Check(value));
    return project(branch, value);
  }
  if (isNode(schema.properties) && isNode(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, sub] of Object.entries(schema.properties)) {
      if (Object.hasOwn(value, key)) out[key] = project(sub, value[key]);
    }
    return out;
  }
  if (isNode(schema.items) && Array.isArray(value)) return value.map((item: unknown) => project(schema.items, item));
  return value;
}

// Error description

const VALUE_KEYWORDS = new Set([
  'type', 'pattern', 'const', 'enum', 'format', 'anyOf', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'multipleOf',
]);

function describe(root: TSchema, value: unknown, errors: readonly TLocalizedValidationError[]): ValidationError {
  const error = firstError(root, value, errors);
  if (!error) return new ValidationError('schema', '', '', 'is invalid');
  let pointer = error.instancePath;
  let reason = error.message;
  const node = schemaAt(root, error.schemaPath);
  if (error.keyword === 'required') {
    pointer = `${pointer}/${escapePointer(error.params.requiredProperties[0] ?? '')}`;
    reason = 'is required';
  } else if (typeof node?.description === 'string' && VALUE_KEYWORDS.has(error.keyword)) {
    reason = `must be ${node.description}`;
  } else if (error.keyword === 'const') {
    reason = `must be ${JSON.stringify(error.params.allowedValue)}`;
  } else if (error.keyword === 'enum') {
    const values = error.params.allowedValues.map((v) => JSON.stringify(v));
    reason = values.length === 1 ? `must be ${values.join('')}` : `must be one of ${values.join(', ')}`;
  }
  return new ValidationError('schema', dotted(pointer), pointer, reason);
}

/**
 * TypeBox reports every branch of a failed union. Keep the branch the value most nearly
 * matched — most literal properties right, then errors deepest, then fewest errors — so
 * `{event:"bsld.command", body:{op:"x"}}` is blamed on `body.op`, not on `event`.
 */
function firstError(root: TSchema, value: unknown, all: readonly TLocalizedValidationError[]): TLocalizedValidationError | undefined {
  let errors = all;
  for (;;) {
    const union = errors
      .filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')
      .reduce<TLocalizedValidationError | undefined>((a, e) => (a && a.schemaPath.length <= e.schemaPath.length ? a : e), undefined);
    if (!union) return errors[0];
    const prefix = `${union.schemaPath}/${union.keyword}/`;
    // Array items share a schemaPath, so the instancePath tells one item's union from another's.
    const inside = (e: TLocalizedValidationError) =>
      e.schemaPath.startsWith(prefix) && (e.instancePath === union.instancePath || e.instancePath.startsWith(`${union.instancePath}/`));
    const branches = new Map<string, TLocalizedValidationError[]>();
    for (const e of errors) {
      if (!inside(e)) continue;
      const index = e.schemaPath.slice(prefix.length).split('/', 1)[0] ?? '';
      const branch = branches.get(index);
      if (branch) branch.push(e);
      else branches.set(index, [e]);
    }
    if (typeof schemaAt(root, union.schemaPath)?.description === 'string') return union;
    const discriminator = commonDiscriminator(union, [...branches.values()]);
    if (discriminator) return discriminator;
    const target = valueAt(value, union.instancePath);
    const score = (index: string, es: readonly TLocalizedValidationError[]) =>
      [matchedLiterals(schemaAt(root, prefix + index), target), deepest(es), -es.length] as const;
    const best = [...branches.entries()]
      .map(([index, es]) => ({ es, score: score(index, es) }))
      .sort((a, b) => b.score[0] - a.score[0] || b.score[1] - a.score[1] || b.score[2] - a.score[2])[0]?.es;
    if (!best) return union;
    const kept = new Set(best);
    errors = errors.filter((e) => e !== union && (!inside(e) || kept.has(e)));
  }
}

const depthOf = (pointer: string) => pointer.split('/').length;
const isDiscriminatorError = (at: string, e: TLocalizedValidationError) =>
  (e.keyword === 'const' || e.keyword === 'enum') && depthOf(e.instancePath) === depthOf(at) + 1;

/** When every branch fails on the same literal (`event`, `kind`), that field is the one to name. */
function commonDiscriminator(union: TLocalizedValidationError, branches: readonly (readonly TLocalizedValidationError[])[]): TLocalizedValidationError | undefined {
  const misses = branches.map((es) => es.find((e) => isDiscriminatorError(union.instancePath, e)));
  const pointer = misses[0]?.instancePath;
  if (branches.length < 2 || pointer === undefined || misses.some((e) => e?.instancePath !== pointer)) return undefined;
  const allowedValues = [...new Set(misses.flatMap((e) => (e?.keyword === 'const' ? [e.params.allowedValue] : e?.keyword === 'enum' ? e.params.allowedValues : [])))];
  return { keyword: 'enum', schemaPath: union.schemaPath, instancePath: pointer, params: { allowedValues }, message: '' };
}

const deepest = (es: readonly TLocalizedValidationError[]) => es.reduce((d, e) => Math.max(d, depthOf(e.instancePath)), 0);

/** How many of a branch's literal properties (`event`, `kind`, `msgType`) the value has right. */
function matchedLiterals(branch: Node | undefined, value: unknown): number {
  if (!isNode(branch?.properties) || !isNode(value)) return 0;
  return Object.entries(branch.properties).filter(([key, sub]) => isNode(sub) && 'const' in sub && Object.hasOwn(value, key) && value[key] === sub.const).length;
}

function valueAt(value: unknown, pointer: string): unknown {
  let node = value;
  for (const segment of pointer.split('/').slice(1)) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[unescapePointer(segment)];
  }
  return node;
}

function schemaAt(root: TSchema, schemaPath: string): Node | undefined {
  let node: unknown = root;
  for (const segment of schemaPath.split('/').slice(1)) {
    if (!isNode(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[unescapePointer(segment)];
  }
  return isNode(node) ? node : undefined;
}

const escapePointer = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');
const unescapePointer = (s: string) => s.replaceAll('~1', '/').replaceAll('~0', '~');

/** `/body/frames/1` → `body.frames[1]`. */
function dotted(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map(unescapePointer)
    .reduce((path, key) => (/^(0|[1-9][0-9]*)$/.test(key) ? `${path}[${key}]` : path ? `${path}.${key}` : key), '');
}
