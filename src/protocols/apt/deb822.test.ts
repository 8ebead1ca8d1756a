// Tests for the deb822 parser: fields, continuation lines, separators, comments, errors and chunked input.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { AptFormatError } from './apt-format-error.ts';
import {
  Deb822Parser,
  defaultMaxFieldLength,
  defaultMaxFieldsPerParagraph,
  defaultMaxParagraphLength,
  fieldLines,
  parseDeb822,
  parseDeb822Stream,
} from './deb822.ts';
import { type IndexBound, IndexBoundError } from './index-bound-error.ts';

const packages = `Package: hello
Version: 2.10-3
Architecture: amd64
Maintainer: Santiago Vila <sanvila@mirror.example>
Installed-Size: 280
Depends: libc6 (>= 2.34)
Description: example package based on GNU hello
 The GNU hello program produces a familiar, friendly greeting.  It
 allows non-programmers to use a classic computer science tool.
 .
 Verbatim:
   indented line
Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
Size: 53224
SHA256: 2ef1f7f5d3d8c2a6b1c1e0ab6a2a6a1f1b7c0b8e3e7c4f5e2d1c0b9a8f7e6d5c

Package: hello-traditional
Version: 2.10-6
Filename: pool/main/h/hello-traditional/hello-traditional_2.10-6_amd64.deb
Size: 55012
`;

void describe('parseDeb822', () => {
  void it('splits paragraphs and looks fields up without regard to case', () => {
    const [first, second, extra] = parseDeb822(packages);
    assert.ok(first && second);
    assert.equal(extra, undefined);
    assert.equal(first.get('Package'), 'hello');
    assert.equal(first.get('package'), 'hello');
    assert.equal(first.get('INSTALLED-SIZE'), '280');
    assert.equal(first.has('filename'), true);
    assert.equal(first.get('Missing'), undefined);
    assert.equal(first.size, 10);
    assert.equal(first.line, 1);
    assert.equal(second.get('Package'), 'hello-traditional');
    assert.equal(second.line, 17);
    assert.deepEqual(
      second.fields.map((field) => field.name),
      ['Package', 'Version', 'Filename', 'Size'],
    );
  });

  void it('keeps continuation lines as written, leading space included', () => {
    const [first] = parseDeb822(packages);
    assert.equal(
      first?.get('Description'),
      [
        'example package based on GNU hello',
        ' The GNU hello program produces a familiar, friendly greeting.  It',
        ' allows non-programmers to use a classic computer science tool.',
        ' .',
        ' Verbatim:',
        '   indented line',
      ].join('\n'),
    );
  });

  void it('treats runs of empty and whitespace-only lines as one separator', () => {
    const paragraphs = parseDeb822('\n\nA: 1\n\n \t\n\nB: 2\n   \nC: 3');
    assert.deepEqual(
      paragraphs.map((p) => p.fields),
      [[{ name: 'A', value: '1' }], [{ name: 'B', value: '2' }], [{ name: 'C', value: '3' }]],
    );
  });

  void it('accepts CRLF line endings, trailing whitespace, a BOM and an empty value', () => {
    const [paragraph] = parseDeb822('\uFEFFSHA256:  \r\n abc 1 x  \r\n def 2 y\r\nSuite: stable \r\n');
    assert.equal(paragraph?.get('SHA256'), '\n abc 1 x\n def 2 y');
    assert.equal(paragraph?.get('Suite'), 'stable');
  });

  void it('allows a colon in values and odd but legal field names', () => {
    const [paragraph] = parseDeb822('Homepage: https://mirror.example/x:y\nX-Python3-Version: >= 3.9\nOrigin: a:b');
    assert.equal(paragraph?.get('Homepage'), 'https://mirror.example/x:y');
    assert.equal(paragraph?.get('x-python3-version'), '>= 3.9');
  });

  void it('returns no paragraphs for empty input', () => {
    assert.deepEqual(parseDeb822(''), []);
    assert.deepEqual(parseDeb822('\n \n\n'), []);
  });

  void it('refuses comment lines unless the format allows them', () => {
    const text = '# generated\nSource: hello\n# inside\nBuild-Depends: a,\n# between continuation lines\n b\n';
    assert.throws(
      () => parseDeb822(text),
      (error: unknown) => error instanceof AptFormatError && error.line === 1,
    );
    const [paragraph] = parseDeb822(text, { allowComments: true });
    assert.equal(paragraph?.get('Source'), 'hello');
    assert.equal(paragraph?.get('Build-Depends'), 'a,\n b');
  });

  for (const [name, text, line] of [
    ['a continuation line before any field', ' indented\nA: 1', 1],
    ['a line without a colon', 'A: 1\nnot a field', 2],
    ['an empty field name', ': value', 1],
    ['a field name with a space', 'Bad Name: 1', 1],
    ['a field name starting with a dash', '-----BEGIN PGP SIGNATURE-----:', 1],
    ['a duplicate field (any case)', 'Package: a\npackage: b', 2],
  ] as const) {
    void it(`throws AptFormatError with the line for ${name}`, () => {
      assert.throws(
        () => parseDeb822(text),
        (error: unknown) => error instanceof AptFormatError && error.line === line && error.message.startsWith(`line ${line}:`),
      );
    });
  }

  void it('allows the same field in different paragraphs', () => {
    assert.equal(parseDeb822('A: 1\n\nA: 2').length, 2);
  });
});

void describe('fieldLines', () => {
  void it('lists the non-empty trimmed lines of a multi-line field', () => {
    assert.deepEqual(fieldLines('\n abc 1 x\n\n  def 2 y  '), ['abc 1 x', 'def 2 y']);
    assert.deepEqual(fieldLines(''), []);
  });
});

void describe('Deb822Parser (incremental)', () => {
  const expected = parseDeb822(packages).map((p) => p.fields);

  void it('gives the same paragraphs however the text is cut into two chunks', () => {
    for (let cut = 0; cut <= packages.length; cut += 1) {
      const parser = new Deb822Parser();
      const got = [...parser.push(packages.slice(0, cut)), ...parser.push(packages.slice(cut)), ...parser.end()];
      assert.deepEqual(
        got.map((p) => p.fields),
        expected,
        `cut at ${cut}`,
      );
    }
  });

  void it('hands out a paragraph as soon as its closing blank line arrives', () => {
    const parser = new Deb822Parser();
    assert.deepEqual(parser.push('A: 1\nB: 2\n'), []);
    const [done] = parser.push('\nC: 3\n');
    assert.equal(done?.get('B'), '2');
    assert.deepEqual(parser.push(' continued\n'), []);
    assert.equal(parser.end()[0]?.get('C'), '3\n continued');
    assert.deepEqual(parser.end(), []);
    assert.throws(() => parser.push('D: 4'));
  });

  void it('decodes UTF-8 split across byte chunks', () => {
    const bytes = new TextEncoder().encode('Maintainer: Jörg Müller <j@mirror.example>\n');
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      const parser = new Deb822Parser();
      parser.push(bytes.subarray(0, cut));
      parser.push(bytes.subarray(cut));
      assert.equal(parser.end()[0]?.get('Maintainer'), 'Jörg Müller <j@mirror.example>');
    }
  });

  void it('refuses a line longer than the limit, even before it ends', () => {
    const parser = new Deb822Parser({ maxLineLength: 16 });
    assert.deepEqual(parser.push('A: 0123456789ab\n'), []);
    assert.throws(
      () => parser.push('B: 0123456789abcdef'),
      (error: unknown) => error instanceof AptFormatError && error.line === 2,
    );
    assert.throws(() => parseDeb822(`A: ${'x'.repeat(20)}\nB: 1\n`, { maxLineLength: 16 }), AptFormatError);
  });

  void it('reports line numbers across chunks', () => {
    const parser = new Deb822Parser();
    parser.push('A: 1\n\nB:');
    assert.throws(
      () => parser.push(' 2\nnonsense\n'),
      (error: unknown) => error instanceof AptFormatError && error.line === 4,
    );
  });

  void it('streams a large index from an async iterable in fixed-size chunks', async () => {
    const count = 20_000;
    const body = Array.from(
      { length: count },
      (_, i) => `Package: p${i}\nFilename: pool/main/p/p${i}/p${i}_1_all.deb\nSize: ${i}\nDescription: d\n long\n`,
    ).join('\n');
    const bytes = new TextEncoder().encode(body);
    function* pieces(): Generator<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536);
    }
    const chunks = (): AsyncIterable<Uint8Array> => Readable.from(pieces(), { objectMode: true }) as AsyncIterable<Uint8Array>;
    let seen = 0;
    for await (const paragraph of parseDeb822Stream(chunks())) {
      assert.equal(paragraph.get('Size'), String(seen));
      seen += 1;
    }
    assert.equal(seen, count);
  });
});

void describe('Deb822Parser bounds', () => {
  const passed = (bound: IndexBound, limit: number) => (error: unknown) => error instanceof IndexBoundError && error.bound === bound && error.limit === limit;

  void it('takes a field of exactly maxFieldLength, on one line or several, and refuses one character more', () => {
    assert.equal(parseDeb822('A: 0123456789\n', { maxFieldLength: 10 })[0]?.get('A'), '0123456789');
    assert.throws(() => parseDeb822('A: 0123456789x\n', { maxFieldLength: 10 }), passed('field', 10));
    // "01234\n 567" is ten characters: the newline and the continuation's leading space count.
    assert.equal(parseDeb822('A: 01234\n 567\nB: 1\n', { maxFieldLength: 10 })[0]?.get('A'), '01234\n 567');
    assert.throws(() => parseDeb822('A: 01234\n 5678\nB: 1\n', { maxFieldLength: 10 }), passed('field', 10));
  });

  void it('takes a paragraph of exactly maxParagraphLength, refuses one character more, and counts each paragraph afresh', () => {
    // "A: 1\n" and "B: 2\n": ten characters.
    assert.equal(parseDeb822('A: 1\nB: 2\n\nC: 3\nD: 4\n', { maxParagraphLength: 10 }).length, 2);
    assert.throws(() => parseDeb822('A: 1\nB: 23\n', { maxParagraphLength: 10 }), passed('paragraph', 10));
    assert.throws(() => parseDeb822('A: 1\n 2\n 3\n', { maxParagraphLength: 10 }), passed('paragraph', 10));
  });

  void it('takes a paragraph of exactly maxFieldsPerParagraph fields and refuses one more (1024 by default)', () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X${i}: 1`).join('\n');
    assert.equal(parseDeb822(fields(3), { maxFieldsPerParagraph: 3 })[0]?.size, 3);
    assert.throws(() => parseDeb822(fields(4), { maxFieldsPerParagraph: 3 }), passed('paragraph', 3));
    assert.equal(defaultMaxFieldsPerParagraph, 1024);
    assert.equal(parseDeb822(fields(1024))[0]?.size, 1024);
    assert.throws(() => parseDeb822(fields(1025)), passed('paragraph', 1024));
  });

  void it('a bound error is an AptFormatError with the line where it was found', () => {
    assert.throws(
      () => parseDeb822('A: 1\n\nB: 1\n 2345\n', { maxFieldLength: 5 }),
      (error: unknown) => error instanceof IndexBoundError && error instanceof AptFormatError && error.line === 4,
    );
    assert.throws(() => new Deb822Parser({ maxLineLength: 4 }).push('A: 12'), passed('line', 4));
  });

  void it('bounds a field growing by continuation lines across chunks, by default at 1 MiB, holding no more than that', () => {
    assert.equal(defaultMaxFieldLength, 1024 * 1024);
    assert.equal(defaultMaxParagraphLength, 4 * 1024 * 1024);
    const parser = new Deb822Parser();
    parser.push('Package: p\nDescription: d\n');
    const line = ` ${'x'.repeat(1023)}\n`;
    let pushed = 0;
    assert.throws(
      () => {
        // Bounded: the bound must trip within 1 MiB of continuation lines, well before 2 MiB.
        for (; pushed < 2048; pushed += 1) parser.push(line);
      },
      passed('field', defaultMaxFieldLength),
    );
    assert.ok(pushed <= 1025, String(pushed));
  });

  void it('bounds a paragraph of long fields by default at 4 MiB', () => {
    const parser = new Deb822Parser();
    let pushed = 0;
    assert.throws(
      () => {
        // Fields of 900 lines of 1000 characters: each under the field bound, five of them past the paragraph's.
        for (; pushed < 8192; pushed += 1) parser.push(pushed % 900 === 0 ? `F${pushed}: ${'y'.repeat(1000)}\n` : ` ${'y'.repeat(999)}\n`);
      },
      passed('paragraph', defaultMaxParagraphLength),
    );
    assert.ok(pushed < 4300, String(pushed));
  });
});
