package upload

import (
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/sign"
)

// flatten folds array parameters (tags[0]…, public_ids[]) into their key
// as the signature does, before anything verifies or reads them: a
// parameter that counts toward the signature is always the one applied.
func flatten(req *request) error {
	p, ok := sign.Flatten(req.params)
	if !ok {
		return clderr.BadRequest("A parameter was given both as a value and as an array")
	}
	req.params = p
	return nil
}
