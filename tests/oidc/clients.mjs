// The provider's test clients and accounts (shared by provider.mjs, login.mjs, signin.mjs and
// the Rust tests, which repeat these values in tests/oidc.rs and tests/oidc/idp.rs).
export const MACHINE_ID = 'machine';
export const MACHINE_SECRET = 'machine-secret-0123456789abcdefghijklmnopqrstuv';
export const WEBAPP_ID = 'webapp';
export const WEBAPP_SECRET = 'webapp-secret-0123456789abcdefghijklmnopqrstuvw';
// brain-mcp's own client at the provider, for the owner's sign-in (BRAIN_OIDC_LOGIN).
export const LOGIN_ID = 'brain-mcp-login';
export const LOGIN_SECRET = 'login-secret-0123456789abcdefghijklmnopqrstuvwx';
// The provider's users: alice is the brain's owner in the tests, bob is anyone else.
export const ACCOUNTS = {
  alice: { password: 'alice-password-1', claims: { sub: 'alice', email: 'alice@example.com', email_verified: true } },
  bob: { password: 'bob-password-22', claims: { sub: 'bob', email: 'bob@example.com', email_verified: true } },
};
