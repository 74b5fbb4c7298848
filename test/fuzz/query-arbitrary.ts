import fc from 'fast-check';
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';

/** Values an attacker would try in any string position. */
const HOSTILE_STRINGS = [
  "' or 1=1 --",
  '"); drop table users; --',
  '%00',
  '\u0000',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  'a'.repeat(300),
  '🙂',
  '',
];

/**
 * Random GraphQL documents built from the schema itself: a random subset of each object type's
 * fields, nested to `maxDepth`, with arguments of the right shape but hostile or borrowed values
 * (`ids` are real ids of other users and agents). Always syntactically valid; often semantically
 * wrong, which is the point.
 */
export function operationArbitrary(schema: GraphQLSchema, options: { ids: readonly string[]; maxDepth?: number; mutations?: boolean }) {
  const { ids, maxDepth = 3 } = options;
  const text = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS, ...ids), fc.string({ maxLength: 40 }));
  const int = fc.oneof(fc.integer({ min: -5, max: 120 }), fc.constantFrom(0, 1, 100, 101, 2 ** 31 - 1, -(2 ** 31)));

  const value = (type: GraphQLInputType, depth: number): fc.Arbitrary<string> => {
    if (isNonNullType(type)) return value(type.ofType, depth);
    if (isListType(type)) return fc.array(value(type.ofType, depth + 1), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`);
    if (isEnumType(type)) return fc.constantFrom(...type.getValues().map((v) => v.name));
    if (isInputObjectType(type)) {
      if (depth > 2) return fc.constant('{}');
      const fields = Object.values(type.getFields());
      return fc.subarray(fields).chain((chosen) =>
        fc.tuple(...chosen.map((f) => value(f.type, depth + 1).map((v) => `${f.name}: ${v}`))).map((parts) => `{ ${parts.join(', ')} }`),
      );
    }
    if (isScalarType(type)) {
      switch (type.name) {
        case 'Int':
          return int.map(String);
        case 'Boolean':
          return fc.boolean().map(String);
        case 'Date':
          return fc.constantFrom('"1990-12-10"', '"2023-02-30"', '"9999-99-99"', '"today"').map(String);
        case 'DateTime':
          return fc.constantFrom('"2026-01-01T00:00:00Z"', '"not a time"', '"1970-01-01T00:00:00.000Z"');
        default:
          return text.map((s) => JSON.stringify(s));
      }
    }
    return fc.constant('null');
  };

  const args = (list: readonly GraphQLArgument[]) =>
    fc
      .subarray(list.filter((a) => !isNonNullType(a.type)))
      .map((optional) => [...list.filter((a) => isNonNullType(a.type)), ...optional])
      .chain((chosen) => (chosen.length === 0 ? fc.constant('') : fc.tuple(...chosen.map((a) => value(a.type, 0).map((v) => `${a.name}: ${v}`))).map((p) => `(${p.join(', ')})`)));

  const selection = (type: GraphQLObjectType, depth: number): fc.Arbitrary<string> => {
    const fields = Object.values(type.getFields()).filter((f) => depth < maxDepth || isLeafType(getNamedType(f.type)));
    if (fields.length === 0) return fc.constant('{ __typename }');
    return fc
      .subarray(fields, { minLength: 1, maxLength: Math.min(6, fields.length) })
      .chain((chosen) => fc.tuple(...chosen.map((f) => field(f, depth))).map((parts) => `{ ${parts.join(' ')} }`));
  };

  const field = (f: GraphQLField<unknown, unknown>, depth: number): fc.Arbitrary<string> => {
    const named = getNamedType(f.type);
    const sub = isObjectType(named) ? selection(named, depth + 1) : fc.constant('');
    return fc.tuple(args(f.args), sub).map(([a, s]) => `${f.name}${a} ${s}`.trim());
  };

  const query = selection(schema.getQueryType()!, 0).map((s) => `query ${s}`);
  const mutationType = schema.getMutationType();
  if (!options.mutations || !mutationType) return query;
  const mutation = fc
    .constantFrom(...Object.values(mutationType.getFields()))
    .chain((f) => field(f, 1).map((s) => `mutation { ${s} }`));
  return fc.oneof(query, mutation);
}
