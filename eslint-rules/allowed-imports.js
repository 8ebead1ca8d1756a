// A lint rule for the architecture's dependency direction as allow-lists: a folder names what it may import.
import { dirname, relative, resolve } from 'node:path';

/**
 * Options: `{ root, allow: [prefixes relative to root], packages: [bare specifiers allowed, '*' for any], why }`.
 * A relative import must resolve under one of `allow` (a folder ending in `/` or an exact file); a bare
 * import (a package, `node:` modules) must be in `packages`. Type-only imports obey the same lists:
 * a seam is an interface file, and importing a concrete module's types still ties the folders together.
 */
export const allowedImports = {
  meta: {
    type: 'problem',
    schema: [
      {
        type: 'object',
        properties: {
          root: { type: 'string' },
          allow: { type: 'array', items: { type: 'string' } },
          packages: { type: 'array', items: { type: 'string' } },
          why: { type: 'string' },
        },
        required: ['root', 'allow', 'packages', 'why'],
        additionalProperties: false,
      },
    ],
    messages: {
      relative: "'{{source}}' ({{target}}) is not on this folder's allow-list: {{why}}",
      bare: "package '{{source}}' is not on this folder's allow-list: {{why}}",
    },
  },
  create(context) {
    const { root, allow, packages, why } = context.options[0];
    const file = context.filename;
    const check = (node) => {
      if (node.source === null || node.source === undefined) return;
      const source = node.source.value;
      if (typeof source !== 'string') return;
      if (source.startsWith('.')) {
        const target = relative(root, resolve(dirname(file), source));
        const ok = allow.some((a) => (a.endsWith('/') ? target.startsWith(a) : target === a));
        if (!ok) context.report({ node, messageId: 'relative', data: { source, target, why } });
        return;
      }
      const name = source.startsWith('@') ? source.split('/').slice(0, 2).join('/') : source.split('/')[0];
      if (!packages.includes('*') && !packages.includes(name) && !packages.includes(source)) {
        context.report({ node, messageId: 'bare', data: { source, why } });
      }
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
