// The ContentVerifier contract: what the cache relies on from every verifier, run by each implementation's tests.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isHoardError } from '../errors.ts';
import type { ObjectEntry, Verification } from '../storage/metadata-index.ts';
import type { AdmitDecision, ContentVerifier, Expectation, ObjectFetch } from './content-verifier.ts';
import type { ReferenceOracle } from './eviction-policy.ts';

export interface ContentVerifierFixture {
  readonly verifier: ContentVerifier;
  /** What eviction asks of this verifier's knowledge: the verifier itself, or `unknownReferences` for one that keeps none. */
  readonly oracle: ReferenceOracle;
  /** The upstream key the verifier was taught about (`http://host[:port]` or `backend:<name>`). */
  readonly upstream: string;
  /** Well-formed paths of the verifier's protocol, known or not: the kinds of file a client asks for. */
  readonly paths: readonly string[];
  /** A well-formed path nothing has taught the verifier about. */
  readonly unknownPath: string;
  /** An object the verifier knows (an index listed it): its path and its bytes. Absent for a verifier that knows nothing. */
  readonly known?: { readonly path: string; readonly bytes: Uint8Array } | undefined;
  /** Whether `expect` refuses, with a HoardError, what no trusted signature covers (apt's `strict`). */
  readonly strict: boolean;
  cleanup?(): Promise<void>;
}

const verifications: readonly Verification[] = ['authenticated', 'hash-verified', 'unverified'];
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

type Answer = { readonly kind: 'answer'; readonly expectation: Expectation | undefined } | { readonly kind: 'refused'; readonly error: unknown };

/** What `expect` gave, whether it answered at once, later, or threw (synchronously or by rejecting). */
async function answerOf(verifier: ContentVerifier, upstream: string, path: string): Promise<Answer> {
  try {
    return { kind: 'answer', expectation: await verifier.expect(upstream, path) };
  } catch (error) {
    return { kind: 'refused', error };
  }
}

/** Every field the cache reads is of the type and form it relies on. */
function assertConsistent(expectation: Expectation | undefined, where: string): void {
  if (expectation === undefined) return;
  assert.equal(typeof expectation, 'object', where);
  assert.ok(verifications.includes(expectation.verification), `${where}: verification ${String(expectation.verification)}`);
  if (expectation.sha256 !== undefined) assert.match(expectation.sha256, /^[0-9a-f]{64}$/, `${where}: sha256`);
  if (expectation.size !== undefined) assert.ok(Number.isSafeInteger(expectation.size) && expectation.size >= 0, `${where}: size ${expectation.size}`);
  if (expectation.upstreamPaths !== undefined) {
    assert.ok(Array.isArray(expectation.upstreamPaths) && expectation.upstreamPaths.length > 0, `${where}: upstreamPaths must list at least one path`);
    for (const path of expectation.upstreamPaths) assert.ok(typeof path === 'string' && path.startsWith('/'), `${where}: upstream path ${String(path)}`);
  }
  for (const flag of ['awaitAdmission', 'teaches'] as const) {
    const value = expectation[flag];
    assert.ok(value === undefined || typeof value === 'boolean', `${where}: ${flag} ${String(value)}`);
  }
}

/** A refusal is allowed only in strict mode, and only as a HoardError (the HTTP edge maps its code to a status). */
function assertAnswerAllowed(answer: Answer, strict: boolean, where: string): void {
  if (answer.kind === 'answer') {
    assertConsistent(answer.expectation, where);
    return;
  }
  assert.ok(strict, `${where}: expect threw outside strict mode: ${String(answer.error)}`);
  assert.ok(isHoardError(answer.error), `${where}: a strict refusal must be a HoardError, got ${String(answer.error)}`);
}

function assertAdmitDecision(decision: AdmitDecision, where: string): void {
  if (decision.admit) {
    assert.ok(verifications.includes(decision.verification), `${where}: admitted as ${String(decision.verification)}`);
    return;
  }
  assert.ok(typeof decision.reason === 'string' && decision.reason.length > 0, `${where}: a refusal says why`);
  if (decision.serve === 'refuse') assert.ok(isHoardError(decision.error), `${where}: a refusal served to clients carries a HoardError`);
}

/** The admit-time fetch: this suite has no upstream, so every further file is unobtainable. */
const noFetch: ObjectFetch = () => Promise.resolve({ ok: false, reason: 'no upstream in the contract test' });

function entry(upstream: string, path: string, digest: string, size: number): ObjectEntry {
  return { key: upstream + path, protocol: 'contract', upstream, path, digest, size, storedAt: 0, validatedAt: 0, lastAccessAt: 0, verification: 'unverified' };
}

export function contentVerifierContract(name: string, makeFixture: () => Promise<ContentVerifierFixture>): void {
  void describe(`ContentVerifier contract: ${name}`, () => {
    let fixture: ContentVerifierFixture;
    before(async () => {
      fixture = await makeFixture();
    });
    after(async () => {
      await fixture?.cleanup?.();
    });
    const allPaths = () => [...fixture.paths, fixture.unknownPath, ...(fixture.known === undefined ? [] : [fixture.known.path])];

    void it('expect answers every well-formed path with undefined or a consistent Expectation; only strict mode refuses, with a HoardError', async () => {
      for (const path of allPaths()) assertAnswerAllowed(await answerOf(fixture.verifier, fixture.upstream, path), fixture.strict, path);
    });

    void it('expect has no side effects: asking twice answers the same', async () => {
      for (const path of allPaths()) {
        const first = await answerOf(fixture.verifier, fixture.upstream, path);
        const second = await answerOf(fixture.verifier, fixture.upstream, path);
        if (first.kind === 'refused' && second.kind === 'refused') {
          assert.equal(isHoardError(second.error) && second.error.code, isHoardError(first.error) && first.error.code, path);
        } else {
          assert.deepEqual(second, first, path);
        }
      }
    });

    void it('a known object: expect names its SHA-256 (and size), vouched for by something', async (t) => {
      const known = fixture.known;
      if (known === undefined) return t.skip('this verifier knows no object');
      const answer = await answerOf(fixture.verifier, fixture.upstream, known.path);
      assert.equal(answer.kind, 'answer', 'a known object is not refused');
      const expectation = answer.kind === 'answer' ? answer.expectation : undefined;
      assert.equal(expectation?.sha256, sha256(known.bytes));
      if (expectation?.size !== undefined) assert.equal(expectation.size, known.bytes.length);
      assert.notEqual(expectation?.verification, 'unverified', 'what an index lists is verified by it');
    });

    void it('admit of a candidate matching expect admits it, with the verification expect promised', async (t) => {
      const known = fixture.known;
      if (known === undefined) return t.skip('this verifier knows no object');
      const expectation = await fixture.verifier.expect(fixture.upstream, known.path);
      const decision = await fixture.verifier.admit(
        { upstream: fixture.upstream, path: known.path, digest: sha256(known.bytes), size: known.bytes.length, previousDigest: undefined },
        noFetch,
      );
      assertAdmitDecision(decision, known.path);
      assert.deepEqual(decision, { admit: true, verification: expectation?.verification });
    });

    void it('admit of bytes nothing vouches for never claims more than unverified', async () => {
      const stranger = randomBytes(321);
      const candidates = [{ path: fixture.unknownPath, bytes: stranger }];
      // Other bytes under a known name (an upstream that changed them): the index does not vouch for them.
      if (fixture.known !== undefined) candidates.push({ path: fixture.known.path, bytes: stranger });
      for (const { path, bytes } of candidates) {
        const decision = await fixture.verifier.admit(
          { upstream: fixture.upstream, path, digest: sha256(bytes), size: bytes.length, previousDigest: undefined },
          noFetch,
        );
        assertAdmitDecision(decision, path);
        if (decision.admit) assert.equal(decision.verification, 'unverified', `${path}: bytes no index lists were admitted as ${decision.verification}`);
      }
    });

    void it('admit without a previous entry and with one resolves, whatever it decides', async () => {
      const bytes = randomBytes(64);
      for (const path of allPaths()) {
        for (const previousDigest of [undefined, sha256(randomBytes(8))]) {
          const decision = await fixture.verifier.admit(
            { upstream: fixture.upstream, path, digest: sha256(bytes), size: bytes.length, previousDigest },
            noFetch,
          );
          assertAdmitDecision(decision, path);
        }
      }
    });

    void it('learn of an unknown path resolves and teaches nothing about it or anything else', async () => {
      const before = await Promise.all(allPaths().map((path) => answerOf(fixture.verifier, fixture.upstream, path)));
      await fixture.verifier.learn(fixture.upstream, fixture.unknownPath, sha256(randomBytes(16)));
      const after = await Promise.all(allPaths().map((path) => answerOf(fixture.verifier, fixture.upstream, path)));
      assert.deepEqual(after, before);
    });

    void it('learn of a known object again is harmless: expect answers as before', async (t) => {
      const known = fixture.known;
      if (known === undefined) return t.skip('this verifier knows no object');
      const before = await answerOf(fixture.verifier, fixture.upstream, known.path);
      await fixture.verifier.learn(fixture.upstream, known.path, sha256(known.bytes));
      assert.deepEqual(await answerOf(fixture.verifier, fixture.upstream, known.path), before);
    });

    void it("knowledge is per upstream: another upstream gets no expectation from this one's indices", async (t) => {
      const known = fixture.known;
      if (known === undefined) return t.skip('this verifier knows no object');
      const other = fixture.upstream === 'backend:contract-other' ? 'backend:contract-other-2' : 'backend:contract-other';
      const answer = await answerOf(fixture.verifier, other, known.path);
      assertAnswerAllowed(answer, fixture.strict, `${other}${known.path}`);
      if (answer.kind === 'answer') assert.notEqual(answer.expectation?.sha256, sha256(known.bytes), 'an expectation crossed upstreams');
    });

    void it('the reference oracle: never "referenced" for what nothing lists, never "unreferenced" for what an index lists', () => {
      const stranger = sha256(randomBytes(16));
      assert.notEqual(fixture.oracle.isReferenced(entry(fixture.upstream, fixture.unknownPath, stranger, 16)), true, 'an unknown file kept forever');
      const known = fixture.known;
      if (known === undefined) return;
      assert.notEqual(
        fixture.oracle.isReferenced(entry(fixture.upstream, known.path, sha256(known.bytes), known.bytes.length)),
        false,
        'a listed file given up to eviction',
      );
      assert.notEqual(fixture.oracle.isReferenced(entry(fixture.upstream, known.path, stranger, 16)), true, 'bytes the index no longer lists kept forever');
    });
  });
}
