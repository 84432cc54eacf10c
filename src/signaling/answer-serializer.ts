/**
 * How the API's answers are turned into JSON: fast-json-stringify (fastify's own serializer, which
 * writes only what the response schema declares), given each schema with its unions rewritten in
 * the terms it serializes natively. A union such as `X | null` or `'a' | 'b'` otherwise makes it
 * build an Ajv validator (to choose the branch) the first time the route answers: a unit measured
 * 45-210 ms of its event loop on one such answer during a call, its audio waiting meanwhile, and
 * the compiled code kept for the life of the service. The schemas themselves are left alone: the
 * OpenAPI 3.1 document and request validation see them as written.
 */
import fastJson from 'fast-json-stringify';

type Schema = Record<string, unknown>;

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The values a schema allows when it is a constant or an enum of them; none otherwise. */
const constantsOf = (schema: Schema): unknown[] => ('const' in schema ? [schema.const] : Array.isArray(schema.enum) ? schema.enum : []);

/** A schema without `type` (TypeBox writes a literal union as a bare enum) given the type of its constants, which `nullable` needs. */
function typed(schema: Schema): Schema {
  if (schema.type !== undefined) return schema;
  const kinds = new Set(constantsOf(schema).map((value) => typeof value));
  const [kind] = kinds;
  return kinds.size === 1 && (kind === 'string' || kind === 'number' || kind === 'boolean') ? { ...schema, type: kind } : schema;
}

/** A property's schema without what tells the options of a union apart (`available: true` here, `false` there). */
function loosened(schema: Schema): Schema {
  const { const: _constant, enum: _values, description: _description, ...rest } = schema;
  return rest;
}

/**
 * Objects of a union as one object: every property any option has (one that differs between
 * options only in its constant takes its type), required where every option requires it.
 */
function mergedObjects(options: Schema[]): Schema | null {
  if (!options.every((option) => option.type === 'object' && isSchema(option.properties ?? {}))) return null;
  const properties: Schema = {};
  for (const option of options) {
    for (const [name, property] of Object.entries((option.properties ?? {}) as Schema)) {
      const held = properties[name];
      if (held === undefined || JSON.stringify(held) === JSON.stringify(property)) {
        properties[name] ??= property;
        continue;
      }
      if (!isSchema(held) || !isSchema(property) || typeof held.type !== 'string' || JSON.stringify(loosened(held)) !== JSON.stringify(loosened(property))) return null;
      properties[name] = loosened(held);
    }
  }
  const requiredBy = options.map((option) => new Set(Array.isArray(option.required) ? (option.required as string[]) : []));
  const required = [...requiredBy[0]].filter((name) => requiredBy.every((names) => names.has(name)));
  const additionalProperties = options.some((option) => option.additionalProperties === true) || undefined;
  return { type: 'object', properties, required, ...(additionalProperties ? { additionalProperties } : {}) };
}

/** The one schema a union of options comes to (nullable if null was one of them), or null when it has none. */
function simplifiedUnion(options: unknown[]): Schema | null {
  if (!options.every(isSchema)) return null;
  const values = options.filter((option) => option.type !== 'null');
  const nullable = values.length < options.length;
  let single: Schema | null = null;
  if (values.length === 1) {
    single = values[0];
  } else if (values.length > 1) {
    const constants = values.map(constantsOf);
    const kinds = new Set(constants.flat().map((value) => typeof value));
    const [kind] = kinds;
    if (constants.every((values) => values.length > 0) && kinds.size === 1 && (kind === 'string' || kind === 'number')) single = { type: kind, enum: constants.flat() };
    else single = mergedObjects(values);
  }
  if (!single || single.anyOf !== undefined || single.oneOf !== undefined || Array.isArray(single.type)) return null;
  if (!nullable) return single;
  const withType = typed(single);
  // `nullable` means nothing without a type (and Ajv refuses it): such a union stays as it is.
  return withType.type === undefined ? null : { ...withType, nullable: true };
}

/** `schema` with every union it can express without a validator rewritten (a copy; the original is untouched). */
export function serializableSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(serializableSchema);
  if (!isSchema(schema)) return schema;
  const copy: Schema = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = key === 'const' || key === 'enum' || key === 'default' || key === 'examples' ? value : serializableSchema(value);
  for (const combinator of ['anyOf', 'oneOf'] as const) {
    const options = copy[combinator];
    if (!Array.isArray(options)) continue;
    const simplified = simplifiedUnion(options);
    if (!simplified) continue;
    const { [combinator]: _replaced, ...siblings } = copy;
    return { ...simplified, ...siblings };
  }
  return copy;
}

/** fastify's serializer compiler: one function per route and status code, built as the route is added. */
export function answerSerializerCompiler({ schema }: { schema: unknown }): (data: unknown) => string {
  return fastJson(serializableSchema(schema) as Parameters<typeof fastJson>[0]);
}
