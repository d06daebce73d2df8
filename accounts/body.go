package accounts

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Content types the endpoints read. Anything else is 415: Echo's default
// binder would also take XML and multipart and ignore trailing data, so it
// is not used for credentials.
const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

var errNotObject = errors.New("body must be a single JSON object")

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
		return err
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
		if len(raw) == 0 || raw[0] != '"' {
			return &fieldError{k}
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return &fieldError{k}
		}
	}
	return nil
}

type fieldError struct{ field string }

func (e *fieldError) Error() string { return e.field + " must be a string" }

// readForm parses a urlencoded body. Only the body is read: credentials in
// a query string would end up in access logs.
func readForm(c echo.Context) (func(string) string, error) {
	r := c.Request()
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.PostForm.Get, nil
}
