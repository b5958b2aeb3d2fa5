package admin

import (
	"maps"
	"net/http"
	"net/url"
	"slices"

	"github.com/refract-cdn/refract/origin/asset"
	"github.com/refract-cdn/refract/shared/bus"
	"github.com/refract-cdn/refract/shared/clderr"
	"github.com/refract-cdn/refract/shared/cloud"
	"github.com/refract-cdn/refract/shared/urlapi"
)

// Limits of one purge call.
const (
	maxPurgeURLs   = 1000
	maxPurgeAssets = 100_000 // by prefix or tag; a larger folder takes a cloud purge
	purgeBatch     = 500     // public_ids per bus message
)

// purge is Refract's purge API, POST /v1_1/<cloud>/purge with the Admin
// API's credentials. It takes any of: all=true (everything of the
// cloud), urls (delivery URLs: every format negotiated for each), and
// public_ids, prefix or tag (every derivative and URL form of each
// asset, of resource_type and type, default image and upload; a tag
// covers every type). soft=true marks entries stale instead: edges serve
// them while one request revalidates.
//
// Every edge has applied the purge within the bus's propagation time of
// the answer; "accepted": true says the bus took all of it. A 503 says
// it did not, and the call may be repeated.
func (h *Handler) purge(r *http.Request, c cloud.Cloud, p params) (any, error) {
	if h.cfg.Bus == nil {
		return nil, clderr.New(http.StatusNotImplemented, "No purge bus is configured")
	}
	soft, err := p.boolean("soft", false)
	if err != nil {
		return nil, err
	}
	all, err := p.boolean("all", false)
	if err != nil {
		return nil, err
	}
	rt := p.get("resource_type")
	if rt == "" {
		rt = "image"
	}
	if _, ok := urlapi.ParseResourceType(rt); !ok {
		return nil, clderr.BadRequest("Invalid resource type %s", rt)
	}
	typ := p.get("type")
	if typ == "" {
		typ = "upload"
	}
	if _, ok := urlapi.ParseDeliveryType(typ); !ok {
		return nil, clderr.BadRequest("Invalid type %s", typ)
	}
	urls, ids, prefix, tag := p.list("urls"), p.list("public_ids"), p.get("prefix"), p.get("tag")
	if !all && len(urls) == 0 && len(ids) == 0 && prefix == "" && tag == "" {
		return nil, clderr.BadRequest("Missing required parameter - all, urls, public_ids, prefix or tag")
	}
	if len(urls) > maxPurgeURLs || len(ids) > maxPurgeAssets {
		return nil, clderr.BadRequest("Too many URLs or public_ids in one purge")
	}
	at := h.cfg.Now()
	var msgs []bus.Purge
	if all {
		msgs = append(msgs, bus.Purge{Cloud: c.Name, All: true, Soft: soft, At: at})
	}
	for _, u := range urls {
		if err := deliveryURLOf(c, u); err != nil {
			return nil, err
		}
		msgs = append(msgs, bus.Purge{Cloud: c.Name, URL: u, Soft: soft, At: at})
	}
	// Assets by type: a tag spans types.
	byType := map[string][]string{}
	for _, id := range ids {
		if err := urlapi.ValidatePublicID(id); err != nil {
			return nil, err
		}
	}
	byType[typ] = append(byType[typ], ids...)
	for _, q := range []asset.Query{
		{Cloud: c.Name, ResourceType: rt, Type: typ, Prefix: prefix},
		{Cloud: c.Name, ResourceType: rt, Tag: tag},
	} {
		if q.Prefix == "" && q.Tag == "" {
			continue
		}
		if q.Tag != "" && !asset.ValidTag(q.Tag) {
			return nil, clderr.BadRequest("Invalid tag %s", q.Tag)
		}
		n := 0
		for q.Max = asset.MaxResults; ; {
			as, next, err := h.cfg.Assets.List(r.Context(), q)
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				byType[a.Type] = append(byType[a.Type], a.PublicID)
			}
			if n += len(as); n > maxPurgeAssets {
				return nil, clderr.BadRequest("More than %d assets match: purge the cloud (all=true) instead", maxPurgeAssets)
			}
			if next == "" {
				break
			}
			q.Cursor = next
		}
	}
	assets := 0
	for _, t := range slices.Sorted(maps.Keys(byType)) {
		list := slices.Compact(slices.Sorted(slices.Values(byType[t])))
		assets += len(list)
		for len(list) > 0 {
			n := min(len(list), purgeBatch)
			msgs = append(msgs, bus.Purge{Cloud: c.Name, ResourceType: rt, Type: t, PublicIDs: list[:n], Soft: soft, At: at})
			list = list[n:]
		}
	}
	for i, m := range msgs {
		if err := h.cfg.Bus.Publish(r.Context(), m); err != nil {
			h.cfg.Log.Error("purge not accepted by the bus", "cloud", c.Name, "published", i, "of", len(msgs), "err", err)
			return nil, clderr.New(http.StatusServiceUnavailable, "Purge not accepted: %d of %d messages published; retry", i, len(msgs))
		}
	}
	return map[string]any{
		"accepted": true, "soft": soft, "all": all, "urls": len(urls), "assets": assets, "messages": len(msgs),
	}, nil
}

// deliveryURLOf checks that u is a delivery URL of c: a path, or a full
// URL on one of c's hosts or any other (the shared distribution's).
func deliveryURLOf(c cloud.Cloud, u string) error {
	path, host := u, ""
	if pu, err := url.Parse(u); err == nil && pu.Host != "" {
		path, host = pu.EscapedPath(), pu.Hostname()
	}
	var r urlapi.Request
	var err error
	if slices.Contains(c.Hosts, host) {
		err = urlapi.ParseHost(c.Name, path, &r)
	} else {
		err = urlapi.Parse(path, &r)
	}
	if err != nil {
		return clderr.BadRequest("Invalid delivery URL %s: %s", u, clderr.Message(err))
	}
	if r.Cloud != c.Name {
		return clderr.BadRequest("URL %s is not of cloud %s", u, c.Name)
	}
	return nil
}
