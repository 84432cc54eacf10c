import { generateSiteSecret, type SiteSecret } from '../../src/security/site-secret.js';

/**
 * The site secret every test unit gets unless a test says otherwise, so the units of one test
 * run form one site. Generated per test run, never a literal: no test depends on its value.
 */
export const TEST_SITE_SECRET = generateSiteSecret();

/** TEST_SITE_SECRET as a unit receives its secret from config. */
export function testSiteSecret(secret = TEST_SITE_SECRET): SiteSecret {
  return { secret, source: 'config', file: null };
}
