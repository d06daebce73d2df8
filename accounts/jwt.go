package accounts

import (
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtTime truncates to seconds, as NumericDate is encoded.
func jwtTime(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t.Truncate(time.Second)) }
