import test from 'ava';
import fastJson from 'fast-json-stringify';
import Type from 'typebox';
import { answerSerializerCompiler, serializableSchema } from '../../src/signaling/answer-serializer.js';
import { startUnit } from '../support/unit-harness.js';

// A union in an answer's schema made fast-json-stringify build an Ajv validator on the route's first
// answer (45-210 ms of a unit's event loop, its audio waiting, during a call): every answer schema
// of the API is serialized without one, and says the same as before.

type Schema = Record<string, unknown>;

/** Where a schema still holds a union (which would need a validator to serialize). */
function unionsIn(schema: unknown, at = ''): string[] {
  if (Array.isArray(schema)) return schema.flatMap((item, index) => unionsIn(item, `${at}/${index}`));
  if (typeof schema !== 'object' || schema === null) return [];
  const here = 'anyOf' in schema || 'oneOf' in schema ? [at || '/'] : [];
  return [...here, ...Object.entries(schema).flatMap(([key, value]) => unionsIn(value, `${at}/${key}`))];
}

test('every answer schema of the API is serialized without a union, so no route builds a validator when it first answers', async (t) => {
  const unit = await startUnit('Serializer', { listen: false });
  t.teardown(() => unit.close());
  await unit.app.ready();
  const document = unit.app.swagger() as unknown as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Schema }> }> }>> };
  let schemas = 0;
  let withUnions = 0;
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      for (const [status, answer] of Object.entries(operation.responses)) {
        const schema = answer.content?.['application/json']?.schema;
        if (!schema) continue;
        schemas++;
        if (unionsIn(schema).length > 0) withUnions++;
        t.deepEqual(unionsIn(serializableSchema(schema)), [], `${method.toUpperCase()} ${path} ${status}`);
      }
    }
  }
  t.true(schemas > 50, `${schemas} answer schemas`);
  t.true(withUnions > 10, `${withUnions} of them written with unions`);
});

test('a nullable answer writes the value or null, and only the declared properties', (t) => {
  const schema = Type.Object({
    stats: Type.Union([Type.Object({ delayMs: Type.Number() }), Type.Null()]),
    endReason: Type.Union([Type.Union([Type.Literal('hung-up'), Type.Literal('busy')]), Type.Null()]),
    count: Type.Union([Type.Integer(), Type.Null()]),
  });
  const serialize = answerSerializerCompiler({ schema });
  t.deepEqual(JSON.parse(serialize({ stats: { delayMs: 41.5, secret: 'x' }, endReason: 'busy', count: 3 })), { stats: { delayMs: 41.5 }, endReason: 'busy', count: 3 });
  t.deepEqual(JSON.parse(serialize({ stats: null, endReason: null, count: null })), { stats: null, endReason: null, count: null });
});

test('the options of a union of objects are one object: every property, required where all require it', (t) => {
  const schema = Type.Union([
    Type.Object({ available: Type.Literal(false), reason: Type.String() }),
    Type.Object({ available: Type.Literal(true), pins: Type.Array(Type.Integer()) }),
  ]);
  const serialize = answerSerializerCompiler({ schema });
  t.deepEqual(JSON.parse(serialize({ available: false, reason: 'no GPIO here', token: 'x' })), { available: false, reason: 'no GPIO here' });
  t.deepEqual(JSON.parse(serialize({ available: true, pins: [5, 6] })), { available: true, pins: [5, 6] });
  t.deepEqual(serializableSchema(schema), {
    type: 'object',
    properties: { available: { type: 'boolean' }, reason: { type: 'string' }, pins: { type: 'array', items: { type: 'integer' } } },
    required: ['available'],
  });
});

test('a union it cannot express stays a union, serialized as before', (t) => {
  const schema = Type.Object({ value: Type.Union([Type.String(), Type.Number()]) });
  t.deepEqual(unionsIn(serializableSchema(schema)), ['/properties/value']);
  const serialize = answerSerializerCompiler({ schema });
  t.is(serialize({ value: 'a' }), fastJson(schema as Parameters<typeof fastJson>[0])({ value: 'a' }));
  t.is(serialize({ value: 2 }), '{"value":2}');
});
