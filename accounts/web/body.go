package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/authgate/authgate/accounts"
)

// Content types the endpoints read. Anything else is 415: Echo's default
// binder would also take XML and multipart and ignore trailing data, so it
// is not used for credentials.
const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

var errNotObject = accounts.Errorf(accounts.Invalid, "body must be a single JSON object")

// mediaType returns the request's media type, lower-cased, without params.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return mt
}

// decodeObject reads exactly one JSON object from r into the named string
// fields. Unknown fields are ignored (a client's "groups" or "roles" is
// simply not read); known fields must be JSON strings; null, arrays, numbers
// for strings and trailing data are errors.
func decodeObject(body io.Reader, fields map[string]*string) error {
	data, err := io.ReadAll(body)
	if err != nil {
		return bodyError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return errNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotObject
	}
	for k, dst := range fields {
		raw, ok := obj[k]
		if !ok {
			continue
		}
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
			return accounts.Errorf(accounts.Invalid, "%s must be a string", k)
		}
	}
	return nil
}

// readForm parses a urlencoded body. Only the body is read: credentials in
// a query string would end up in access logs.
func readForm(r *http.Request) (func(string) string, error) {
	if err := r.ParseForm(); err != nil {
		return nil, bodyError(err)
	}
	return r.PostForm.Get, nil
}

// bodyError classifies a failure to read a body.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &accounts.Error{Code: accounts.TooLarge, Message: msgTooLarge, Err: err}
	}
	return &accounts.Error{Code: accounts.Invalid, Message: "the request body could not be read", Err: err}
}
