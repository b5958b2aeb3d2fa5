// Package clderr is the error type every layer returns when a request is
// refused: an HTTP status plus the message that goes into X-Cld-Error.
package clderr

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a refusal with a Cloudinary-style message.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// New returns an Error with a formatted message.
func New(status int, format string, a ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// BadRequest is New(400, ...), the answer to a malformed URL or parameter.
func BadRequest(format string, a ...any) *Error { return New(http.StatusBadRequest, format, a...) }

// NotFound is New(404, ...).
func NotFound(format string, a ...any) *Error { return New(http.StatusNotFound, format, a...) }

// Unauthorized is New(401, ...).
func Unauthorized(format string, a ...any) *Error { return New(http.StatusUnauthorized, format, a...) }

// Status is the HTTP status for err: its own for an *Error, 500 otherwise.
func Status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return http.StatusInternalServerError
}

// Message is the client-safe message for err. Internal errors are not
// echoed: they may carry paths or backend details.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return "Internal error"
}
