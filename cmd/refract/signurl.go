package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/sign"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// runSignURL inserts s--SIG-- into a delivery path, as the SDKs' sign_url
// does: refract sign-url /demo/image/upload/w_300/sample.jpg
func runSignURL(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sign-url", flag.ContinueOnError)
	long := fs.Bool("long", false, "use the 32-character SHA-256 signature")
	cldURL := fs.String("cloudinary-url", os.Getenv("CLOUDINARY_URL"), "cloudinary://<key>:<secret>@<cloud> (default $CLOUDINARY_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: refract sign-url [-long] /<cloud>/image/<type>/[tx/][v<n>/]<public_id>.<ext>")
	}
	c, err := cloud.ParseURL(*cldURL)
	if err != nil {
		return err
	}
	path := fs.Arg(0)
	var r urlapi.Request
	if err := urlapi.Parse(path, &r); err != nil {
		return err
	}
	if r.Signature != "" {
		return errors.New("the path is already signed")
	}
	sig := sign.Delivery(string(r.AppendToSign(nil)), c.APISecret, *long)
	// The signature follows /<cloud>/<resource_type>/<type>/, or
	// /<cloud>/<form>/ for the forms that name both at once (iu, images, ...).
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 4)
	at := 3
	if parts[1] != "image" && parts[1] != "raw" {
		at = 2
	}
	head, tail := strings.Join(parts[:at], "/"), strings.Join(parts[at:], "/")
	fmt.Fprintf(out, "/%s/s--%s--/%s\n", head, sig, tail)
	return nil
}
