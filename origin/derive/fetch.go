package derive

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/render"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/safehttp"
)

// Fetch delivery (/<cloud>/image/fetch/<tx>/<url>): the remote image is
// downloaded once, through the SSRF guard and only from the cloud's
// fetch_domains, and kept as an asset of type fetch named by the URL's
// hash, so its derivatives are stored and served like any other.

// FetchPrefix begins the public_id of every fetched image.
const FetchPrefix = "fetch/"

// FetchID is the public_id a fetched URL is kept under.
func FetchID(rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return FetchPrefix + hex.EncodeToString(sum[:16])
}

// fetchAsset returns the asset behind a fetch delivery, downloading it on
// first use. Concurrent first uses download once.
func (s *Service) fetchAsset(ctx context.Context, cloudName, rawURL string) (*asset.Asset, error) {
	if s.cfg.Fetch == nil || s.cfg.Clouds == nil {
		return nil, clderr.Unauthorized("Fetch delivery is not enabled")
	}
	c, ok := s.cfg.Clouds.Lookup(cloudName)
	if !ok {
		return nil, clderr.NotFound("Unknown cloud - %s", cloudName)
	}
	host, ok := c.FetchAllowed(rawURL)
	if !ok {
		return nil, clderr.Unauthorized("Fetch from %s is not allowed", host)
	}
	id := FetchID(rawURL)
	if a, _, err := s.cfg.Assets.Get(ctx, c.Name, "image", "fetch", id); err == nil || !errors.Is(err, asset.ErrNotFound) {
		return a, err
	}
	a, err, _ := s.fetches.Do(c.Name+"\x00"+id, func() (*asset.Asset, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renderTimeout)
		defer cancel()
		return s.download(ctx, c.Name, id, rawURL)
	})
	return a, err
}

// maxDownloads is how many fetch downloads an origin holds in memory at
// once; more wait, as renders do.
const maxDownloads = 8

func (s *Service) download(ctx context.Context, cloudName, id, rawURL string) (*asset.Asset, error) {
	select {
	case s.downloads <- struct{}{}:
		defer func() { <-s.downloads }()
	case <-ctx.Done():
		return nil, errBusy
	}
	buf := cappedBuffer{max: s.cfg.MaxSourceBytes}
	if _, _, err := s.cfg.Fetch.Fetch(ctx, rawURL, &buf); err != nil {
		return nil, fetchError(rawURL, err)
	}
	release, err := s.cfg.Limit.Acquire(ctx)
	if err != nil {
		return nil, errBusy
	}
	info, err := render.Probe(buf.Bytes(), s.cfg.MaxPixels*4)
	release()
	if err != nil {
		return nil, clderr.BadRequest("Error in loading %s - not an image", rawURL)
	}
	sum := md5.Sum(buf.Bytes())
	a := &asset.Asset{
		Cloud: cloudName, ResourceType: "image", Type: "fetch", PublicID: id,
		Format: info.Format.Ext(), Width: info.Width, Height: info.Height, Alpha: info.Alpha, Pages: info.Pages,
		Bytes: int64(buf.Len()), ETag: hex.EncodeToString(sum[:]), CreatedAt: time.Now().UTC().Truncate(time.Second),
		OriginalFilename: rawURL,
	}
	a.Version = a.CreatedAt.Unix()
	// Create-only: another origin that fetched it first wins, and its
	// copy is as good.
	existing, err := s.cfg.Assets.Save(ctx, a, bytes.NewReader(buf.Bytes()), false)
	if errors.Is(err, asset.ErrExists) {
		return existing, nil
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// fetchError words a failed download as Cloudinary does.
func fetchError(rawURL string, err error) error {
	var se *safehttp.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return clderr.NotFound("Error in loading %s - 404 Not Found", rawURL)
	case errors.As(err, &se):
		return clderr.BadRequest("Error in loading %s - %d %s", rawURL, se.Code, http.StatusText(se.Code))
	case errors.Is(err, safehttp.ErrForbiddenAddress), errors.Is(err, safehttp.ErrForbiddenURL):
		return clderr.Unauthorized("Error in loading %s - Forbidden address", rawURL)
	case errors.Is(err, safehttp.ErrTooLarge), errors.Is(err, errSourceTooLarge):
		return clderr.BadRequest("Error in loading %s - file too large", rawURL)
	case errors.Is(err, safehttp.ErrTimeout):
		return clderr.New(http.StatusGatewayTimeout, "Error in loading %s - timeout", rawURL)
	}
	return clderr.New(http.StatusBadGateway, "Error in loading %s", rawURL)
}

var errSourceTooLarge = errors.New("fetch: larger than the largest source accepted")

// cappedBuffer stops a download at max bytes, the largest source an
// origin renders, before it is all in memory. It is only a Writer (not
// a ReaderFrom, which io.Copy would use to go around Write).
type cappedBuffer struct {
	buf bytes.Buffer
	max int64
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if int64(b.buf.Len()+len(p)) > b.max {
		return 0, errSourceTooLarge
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) Bytes() []byte { return b.buf.Bytes() }
func (b *cappedBuffer) Len() int      { return b.buf.Len() }
