import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "./password";

// scrypt at N=2^17 is slow on purpose (~0.4 s a hash, more on a busy machine): not a 5 s default test.
describe("password hashing (Node scrypt)", { timeout: 30_000 }, () => {
  it("verifies the right password and refuses a wrong one", async () => {
    const hash = await hashPassword("a long enough password");
    expect(hash).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword("a long enough password", hash)).toBe(true);
    expect(await verifyPassword("a long enough passwore", hash)).toBe(false);
  });

  it("salts every hash", async () => {
    expect(await hashPassword("same")).not.toBe(await hashPassword("same"));
  });

  it("refuses malformed stored hashes instead of throwing", async () => {
    expect(await verifyPassword("x", "")).toBe(false);
    expect(await verifyPassword("x", "bcrypt$whatever")).toBe(false);
  });
});
