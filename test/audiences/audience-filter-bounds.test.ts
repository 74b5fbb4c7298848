import { GraphQLInputObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { schema } from '../../src/graphql/schema.js';

// A marketer reads the schema, not the code: an age band counted on the UTC date, and bounds
// that include one end of a period and not the other, are part of what a filter selects.
const fields = (schema.getType('AudienceFilter') as GraphQLInputObjectType).getFields();
const described = (key: string) => fields[key]?.description ?? '';

describe('the audience filter as its schema describes it', () => {
  it('says on which day, and in which time zone, ages are counted, both ends of the band included', () => {
    for (const key of ['ageMin', 'ageMax']) {
      expect(described(key)).toMatch(/UTC/);
      expect(described(key)).toMatch(/whole years/);
    }
  });

  it('says which end of a period each bound includes', () => {
    for (const key of ['lastOrderAfter', 'signedUpAfter']) expect(described(key)).toMatch(/at or after/);
    for (const key of ['lastOrderBefore', 'signedUpBefore']) expect(described(key)).toMatch(/before .*not at it/);
  });
});
