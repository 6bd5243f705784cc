// The provider's test clients (shared by provider.mjs, login.mjs and the Rust tests, which
// repeat these values in tests/oidc.rs).
export const MACHINE_ID = 'machine';
export const MACHINE_SECRET = 'machine-secret-0123456789abcdefghijklmnopqrstuv';
export const WEBAPP_ID = 'webapp';
export const WEBAPP_SECRET = 'webapp-secret-0123456789abcdefghijklmnopqrstuvw';
