/**
 * config.schema.json read the way Homebridge UI's schema form reads it: properties with
 * draft-3 style `required: true`, `x-schema-form` overrides, and a layout of fieldsets, arrays
 * and keys (`locks[].name` for an array item's field). `renderForm` turns it into plain HTML
 * (labels, help text, HTML validation attributes) so a browser can show it; any layout key
 * that does not resolve is an error, as it is for the real form.
 */
export interface SchemaProperty {
  title?: string;
  type?: string;
  description?: string;
  placeholder?: string;
  default?: unknown;
  required?: boolean;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  items?: { type?: string; properties?: Record<string, SchemaProperty> };
  properties?: Record<string, SchemaProperty>;
  'x-schema-form'?: { type?: string };
}

export type LayoutItem = string | { key?: string; type?: string; title?: string; description?: string; items?: LayoutItem[]; expandable?: boolean; buttonText?: string };

export interface PluginSchema {
  pluginAlias: string;
  pluginType: string;
  singular?: boolean;
  customUi?: boolean;
  headerDisplay?: string;
  footerDisplay?: string;
  schema: { type: string; properties: Record<string, SchemaProperty> };
  layout: LayoutItem[];
}

/** `locks[].name` → the `name` property of `locks`' items. */
export function resolveKey(schema: PluginSchema, key: string): SchemaProperty | undefined {
  let props: Record<string, SchemaProperty> | undefined = schema.schema.properties;
  let found: SchemaProperty | undefined;
  for (const part of key.split('.')) {
    const array = part.endsWith('[]');
    const name = array ? part.slice(0, -2) : part;
    found = props?.[name];
    if (!found) return undefined;
    props = array ? found.items?.properties : found.properties;
  }
  return found;
}

/** Every key the layout names, in order (array containers included). */
export function layoutKeys(items: LayoutItem[]): string[] {
  const keys: string[] = [];
  for (const item of items) {
    if (typeof item === 'string') keys.push(item);
    else {
      if (item.key) keys.push(item.key);
      if (item.items) keys.push(...layoutKeys(item.items));
    }
  }
  return keys;
}

/** Every leaf property path: `name`, `locks[].deviceId`, … */
export function leafKeys(props: Record<string, SchemaProperty>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [name, prop] of Object.entries(props)) {
    if (prop.type === 'array' && prop.items?.properties) out.push(...leafKeys(prop.items.properties, `${prefix}${name}[].`));
    else if (prop.type === 'object' && prop.properties) out.push(...leafKeys(prop.properties, `${prefix}${name}.`));
    else out.push(`${prefix}${name}`);
  }
  return out;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderForm(schema: PluginSchema, config: Record<string, unknown>): string {
  let n = 0;
  const field = (key: string, value: unknown): string => {
    const prop = resolveKey(schema, key);
    if (!prop) throw new Error(`layout key ${key} is not in the schema`);
    const id = `f${++n}`;
    const kind = prop['x-schema-form']?.type ?? prop.type;
    const help = prop.description ? `<small id="${id}-help">${escape(prop.description)}</small>` : '';
    const describedBy = prop.description ? ` aria-describedby="${id}-help"` : '';
    const current = value ?? prop.default;
    if (kind === 'boolean') {
      return `<div class="field"><input type="checkbox" id="${id}" name="${escape(key)}"${current === true ? ' checked' : ''}${describedBy}> <label for="${id}">${escape(prop.title ?? key)}</label>${help}</div>`;
    }
    const attrs = [
      `type="${kind === 'password' ? 'password' : kind === 'integer' || kind === 'number' ? 'number' : 'text'}"`,
      `id="${id}"`,
      `name="${escape(key)}"`,
      prop.required ? 'required' : '',
      prop.pattern ? `pattern="${escape(prop.pattern)}"` : '',
      prop.minimum !== undefined ? `min="${prop.minimum}"` : '',
      prop.maximum !== undefined ? `max="${prop.maximum}"` : '',
      prop.minLength !== undefined ? `minlength="${prop.minLength}"` : '',
      prop.maxLength !== undefined ? `maxlength="${prop.maxLength}"` : '',
      prop.placeholder ? `placeholder="${escape(prop.placeholder)}"` : '',
      current !== undefined && current !== null ? `value="${escape(String(current as string | number))}"` : '',
    ].filter(Boolean);
    return `<div class="field"><label for="${id}">${escape(prop.title ?? key)}${prop.required ? ' *' : ''}</label><input ${attrs.join(' ')}${describedBy}>${help}</div>`;
  };
  const render = (item: LayoutItem, scope: Record<string, unknown>, index?: number): string => {
    if (typeof item === 'string') {
      const leaf = item.split('.').pop()!;
      return field(item, scope[leaf.replace('[]', '')] ?? (index === undefined ? config[item] : undefined));
    }
    if (item.type === 'fieldset') {
      return `<fieldset><legend>${escape(item.title ?? '')}</legend>${item.description ? `<p>${escape(item.description)}</p>` : ''}${(item.items ?? []).map((i) => render(i, scope)).join('')}</fieldset>`;
    }
    if (item.type === 'array' && item.key) {
      const entries = (config[item.key] as Record<string, unknown>[] | undefined) ?? [];
      const rows = entries.map((entry, i) => `<div class="array-item">${(item.items ?? []).map((sub) => render(sub, entry, i)).join('')}</div>`).join('');
      return `<div class="array" data-key="${escape(item.key)}">${rows}<button type="button">${escape(item.buttonText ?? 'Add')}</button></div>`;
    }
    if (item.key) return field(item.key, config[item.key]);
    throw new Error(`layout item ${JSON.stringify(item)} is neither a key, a fieldset nor an array`);
  };
  const body = schema.layout.map((i) => render(i, config)).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(schema.pluginAlias)}</title>
<style>body{font-family:sans-serif;max-width:48rem;margin:1rem auto}fieldset{margin:0 0 1rem}label{display:block;font-weight:600;margin-top:.5rem}input[type=text],input[type=number],input[type=password]{width:100%;box-sizing:border-box}small{display:block;color:#555}</style>
</head><body><p>${escape(schema.headerDisplay ?? '')}</p><form novalidate>${body}</form><p>${escape(schema.footerDisplay ?? '')}</p></body></html>`;
}
