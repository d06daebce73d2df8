// Package accounts is the account domain: users and sessions, the Store
// interface every store package implements, the Service (registration,
// sign-in under the brute-force regulation policy, with a second factor
// for the users who set one up, sessions, Basic credentials for /verify,
// administration), username canonicalisation,
// group lists and the users file, and the one error vocabulary (Error and
// its Codes) that the HTTP layer turns into statuses.
//
// It imports verify for the Identity a token carries and the BasicChecker
// contract, never the token format itself: tokens are minted and read
// through the small Tokens interface, which verify.Tokens implements.
// Sessions created here are what verify's SessionChecker asks about: a
// token is worth something only while its session (the token's jti) is
// live in the store, which is what makes logout a real revocation.
//
// Subpackages: password (hashing), mfa (TOTP codes, recovery codes, the
// sealing of secrets), regulation (the brute-force policy and its
// counters), memstore, boltstore and redisstore (one store each), storetest
// (the suite every store passes), web (the handlers and pages).
package accounts
