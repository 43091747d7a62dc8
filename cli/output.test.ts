import { describe, expect, it } from 'vitest';
import { parseDuration } from './commands/admissions.js';
import { age, table } from './output.js';

describe('table', () => {
  it('aligns columns three spaces apart without trailing spaces', () => {
    expect(
      table(
        ['NAME', 'ACTION'],
        [
          ['deny-critical', 'Deny'],
          ['a', 'Audit  x'],
        ],
      ),
    ).toBe('NAME            ACTION\ndeny-critical   Deny\na               Audit x');
  });
});

describe('age', () => {
  it('reads like kubectl', () => {
    const now = new Date('2024-05-10T00:00:00Z');
    expect(age('2024-05-09T23:59:30Z', now)).toBe('30s');
    expect(age('2024-05-09T23:00:00Z', now)).toBe('60m');
    expect(age('2024-05-09T00:00:00Z', now)).toBe('24h');
    expect(age('2024-05-01T00:00:00Z', now)).toBe('9d');
    expect(age(undefined, now)).toBe('<unknown>');
  });
});

describe('parseDuration', () => {
  it('accepts s, m, h, d and w, and nothing else', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(() => parseDuration('0h')).toThrow('expected a duration');
    expect(() => parseDuration('1y')).toThrow('expected a duration');
  });
});
