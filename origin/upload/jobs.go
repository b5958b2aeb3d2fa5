package upload

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/origin/store"
	"github.com/refract-cdn/refract/shared/clderr"
)

// KindEager is the job kind of eager_async transformations.
const KindEager = "eager"

// EagerJob is the persisted work of an eager_async upload or explicit
// call. VersionID pins the version it was asked for: a job that finds
// the asset overwritten has nothing left to do.
type EagerJob struct {
	Cloud           string  `json:"cloud"`
	ResourceType    string  `json:"resource_type"`
	Type            string  `json:"type"`
	PublicID        string  `json:"public_id"`
	VersionID       string  `json:"version_id"`
	Eager           []Eager `json:"eager"`
	NotificationURL string  `json:"notification_url,omitempty"`
	BatchID         string  `json:"batch_id"`
}

// ErrPermanent marks a job that retrying cannot help; the wiring maps
// it to the queue's own permanent-failure marker.
var ErrPermanent = errors.New("upload: permanent job failure")

// RunEagerJob renders an EagerJob's transformations and queues its
// eager notification.
func (h *Handler) RunEagerJob(ctx context.Context, payload []byte) error {
	var job EagerJob
	if err := json.Unmarshal(payload, &job); err != nil {
		return errors.Join(ErrPermanent, err)
	}
	c, ok := h.cfg.Clouds.Lookup(job.Cloud)
	if !ok {
		return errors.Join(ErrPermanent, errors.New("unknown cloud "+job.Cloud))
	}
	a, _, err := h.cfg.Assets.Get(ctx, job.Cloud, job.ResourceType, job.Type, job.PublicID)
	if errors.Is(err, asset.ErrNotFound) || (err == nil && a.VersionID != job.VersionID) {
		h.cfg.Log.Info("eager job for a replaced or deleted asset dropped", "public_id", job.PublicID)
		return nil
	}
	if err != nil {
		return err
	}
	out, err := h.runEager(ctx, c, a, job.Eager)
	if err != nil {
		if s := clderr.Status(err); s >= 400 && s < 500 && s != 429 {
			// A transformation the renderer refuses will be refused again.
			return errors.Join(ErrPermanent, err)
		}
		return err
	}
	if job.NotificationURL != "" {
		h.notify(ctx, c, job.NotificationURL, "eager", map[string]any{
			"batch_id": job.BatchID, "public_id": a.PublicID, "asset_id": a.AssetID,
			"version": a.Version, "resource_type": a.ResourceType, "type": a.Type, "eager": out,
		})
	}
	return nil
}

// storeErr is the API's answer to a storage failure: a store that cannot
// be reached is a 503 the client may retry; tags the index refuses are
// the client's.
func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return errUnavailable
	case errors.Is(err, asset.ErrInvalidTag):
		return clderr.BadRequest("Invalid tag")
	case errors.Is(err, store.ErrInvalidKey):
		return clderr.BadRequest("Invalid public_id or name")
	}
	return err
}

var errUnavailable = clderr.New(http.StatusServiceUnavailable, "Storage is unavailable; retry later")
