import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from 'typebox';

/**
 * Checks a value against one of our TypeBox schemas (files read back, peers' answers, the
 * configuration) with Ajv, which fastify loads anyway for the routes. TypeBox's own checker
 * (typebox/value) would add ~6.5 MiB resident to every unit for the same answers.
 * All errors are collected (the configuration's message picks the most telling one).
 */
const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new WeakMap<TSchema, ValidateFunction>();

function validatorFor(schema: TSchema): ValidateFunction {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate;
}

/** Whether `value` is what `schema` describes. */
export function matchesSchema<S extends TSchema>(schema: S, value: unknown): value is Static<S> {
  return validatorFor(schema)(value) === true;
}

/** What is wrong with `value` against `schema` (JSON pointers to the places; empty: nothing). */
export function schemaErrors(schema: TSchema, value: unknown): ErrorObject[] {
  const validate = validatorFor(schema);
  return validate(value) ? [] : [...(validate.errors ?? [])];
}
