// Runs the ContentVerifier contract against noVerifier, the verifier of protocols without signed indices.
import { contentVerifierContract } from './content-verifier.contract.ts';
import { noVerifier } from './content-verifier.ts';
import { unknownReferences } from './eviction-policy.ts';

contentVerifierContract('noVerifier', () =>
  Promise.resolve({
    verifier: noVerifier,
    oracle: unknownReferences,
    upstream: 'http://mirror.example',
    paths: [
      '/debian/dists/stable/InRelease',
      '/debian/pool/main/a/alpha/alpha_1.0_amd64.deb',
      '/v2/library/alpine/manifests/latest',
      '/images/streams/v1/index.json',
    ],
    unknownPath: '/debian/pool/main/z/zulu/zulu_1.0_amd64.deb',
    strict: false,
  }),
);
