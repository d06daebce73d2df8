// Package accounts owns people and their sessions: usernames and their
// canonical form, password hashing (argon2id, bcrypt from a users file),
// the Store interface and its implementations, and the HTTP handlers for
// /register, /login, /logout and the login page.
//
// It imports verify for the token format only. Sessions created here are
// what verify's SessionChecker asks about: a token is worth something only
// while its session (the token's jti) is live in the store, which is what
// makes logout a real revocation.
package accounts
