import { describe, expect, it } from 'vitest';
import { constantTimeEqual } from '../../src/shared/constant-time.js';

describe('constantTimeEqual', () => {
  it('is true for equal bytes only, and false for a prefix either way round', () => {
    const mac = Buffer.from('0123456789abcdef0123456789abcdef');
    expect(constantTimeEqual(mac, Buffer.from(mac))).toBe(true);
    expect(constantTimeEqual(mac.subarray(0, 16), mac)).toBe(false);
    expect(constantTimeEqual(mac, mac.subarray(0, 16))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), mac)).toBe(false);
    expect(constantTimeEqual(mac, Buffer.from('0123456789abcdef0123456789abcdeF'))).toBe(false);
  });
});
