import { afterEach, describe, expect, it } from 'vitest';
import { utcDate, yearsBefore } from '../../src/shared/calendar.js';

// The host's own time zone must not matter. Node reads TZ again whenever it is set, so each test
// runs in the zone it names, whatever the machine's, and gives the machine's back after.
const hostZone = process.env.TZ;
function inHostZone(zone: string): void {
  process.env.TZ = zone;
}
afterEach(() => {
  if (hostZone === undefined) delete process.env.TZ;
  else process.env.TZ = hostZone;
});

describe('calendar dates, on a host in another time zone than UTC', () => {
  it('are those of UTC on a host at UTC+14, where the afternoon in UTC is the next day', () => {
    inHostZone('Pacific/Kiritimati');
    const now = new Date('2024-02-29T12:00:00.000Z');
    expect(now.getDate()).toBe(1);
    expect(utcDate(now)).toBe('2024-02-29');
    // February 29 in UTC: a year back is February 28, not March 1 a year back from the host's date.
    expect(yearsBefore(now, 1)).toBe('2023-02-28');
    expect(yearsBefore(now, 4)).toBe('2020-02-29');
  });

  it('are those of UTC on a host at UTC−3:30, where the small hours in UTC are the day before', () => {
    inHostZone('America/St_Johns');
    const now = new Date('2024-03-01T01:00:00.000Z');
    expect(now.getDate()).toBe(29);
    expect(utcDate(now)).toBe('2024-03-01');
    expect(yearsBefore(now, 1)).toBe('2023-03-01');
    expect(yearsBefore(now, 4)).toBe('2020-03-01');
  });
});
