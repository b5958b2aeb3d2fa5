package asset

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/refract-cdn/refract/origin/store"
)

// MaxTagLength is the longest tag accepted, in bytes.
const MaxTagLength = 255

// maxEscapedTag keeps an escaped tag, as one key segment, under the 255
// bytes a file name may have on a POSIX-backed store.
const maxEscapedTag = 240

// ValidTag reports whether t can be stored and indexed: valid UTF-8,
// 1 to MaxTagLength bytes, no control characters, and short enough once
// escaped to be one key segment.
func ValidTag(t string) bool {
	// U+10FFFF is maxKey, which listings use to skip past a tag.
	if t == "" || len(t) > MaxTagLength || !utf8.ValidString(t) || strings.Contains(t, maxKey) {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] == 0x7f {
			return false
		}
	}
	return len(escapeTag(t)) <= maxEscapedTag
}

// escapeTag makes a tag one safe key segment. It maps each byte on its
// own (a prefix code), so escape(p) is a prefix of escape(t) exactly when
// p is a prefix of t, and a tag prefix search is a key prefix search.
// "." is escaped so that "." and ".." never become path segments.
func escapeTag(t string) string {
	const hexdig = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(t); i++ {
		switch c := t[i]; c {
		case '%', '/', '.':
			b.WriteByte('%')
			b.WriteByte(hexdig[c>>4])
			b.WriteByte(hexdig[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescapeTag(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// normalizeTags drops empty and repeated tags, keeping the first order.
func normalizeTags(tags []string) []string {
	var out []string
	for _, t := range tags {
		if t != "" && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// subtract is the tags of a that b lacks.
func subtract(a, b []string) []string {
	var out []string
	for _, t := range a {
		if !slices.Contains(b, t) {
			out = append(out, t)
		}
	}
	return out
}

func tagRoot(cloud, rt string) string { return "tags/" + cloud + "/" + rt + "/" }

// TagKey is the index marker saying that an asset may carry a tag.
func TagKey(cloud, rt, tag, typ, publicID string) string {
	return tagRoot(cloud, rt) + escapeTag(tag) + "/" + typ + "/" + publicID + "%"
}

// maxKey sorts after every key that starts with the same text: it is the
// largest code point, and keys are UTF-8.
const maxKey = "\U0010FFFF"

// indexTags writes markers before the metadata that adds tags commits,
// so the index never lacks a tag the metadata has.
func (r *Repo) indexTags(ctx context.Context, cloud, rt, typ, id string, tags []string) error {
	return ForEach(ctx, len(tags), func(i int) error {
		_, err := r.Store.Put(ctx, TagKey(cloud, rt, tags[i], typ, id), strings.NewReader(""), store.PutOptions{})
		return err
	})
}

// confirmTags runs after a commit that added tags: a concurrent writer
// that had just removed the same tag may have deleted the marker after
// this writer wrote it, so a missing one is written again. Best effort:
// the commit has happened.
func (r *Repo) confirmTags(ctx context.Context, cloud, rt, typ, id string, tags []string) {
	ForEach(ctx, len(tags), func(i int) error {
		k := TagKey(cloud, rt, tags[i], typ, id)
		if _, err := r.Store.Stat(ctx, k); errors.Is(err, store.ErrNotFound) {
			r.Store.Put(ctx, k, strings.NewReader(""), store.PutOptions{})
		}
		return nil
	})
}

// unindexTags runs after a commit that dropped tags: it deletes their
// markers, then re-reads the metadata and restores the markers of tags a
// concurrent writer has added back meanwhile. With confirmTags on the
// adding side, whichever writer acts last leaves the marker in place.
func (r *Repo) unindexTags(ctx context.Context, cloud, rt, typ, id string, tags []string) {
	if len(tags) == 0 {
		return
	}
	ForEach(ctx, len(tags), func(i int) error {
		return r.Store.Delete(ctx, TagKey(cloud, rt, tags[i], typ, id))
	})
	cur, _, err := r.loadKey(ctx, MetaKey(cloud, rt, typ, id))
	if err != nil || cur.Deleted {
		return
	}
	back := subtract(tags, subtract(tags, cur.Tags)) // tags ∩ cur.Tags
	r.indexTags(ctx, cloud, rt, typ, id, back)
}

// parseMarker splits a marker key below root+escapedTag+"/" into the
// asset's type and public_id.
func parseMarker(rest string) (typ, id string, ok bool) {
	typ, id, ok = strings.Cut(rest, "/")
	if !ok || typ == "" || !strings.HasSuffix(id, "%") || len(id) < 2 {
		return "", "", false
	}
	return typ, id[:len(id)-1], true
}

// Tags lists the tags of a cloud's assets of one resource type that start
// with prefix, in index order (byte order of the escaped tags, which is
// byte order unless a tag holds "%", "/" or "."). It reads one marker
// per tag, skipping from tag to tag, and leaves out tags whose markers
// are all stale. cursor is the previous page's next; max defaults to 10
// and is capped at 500.
func (r *Repo) Tags(ctx context.Context, cloud, rt, prefix, cursor string, max int) ([]string, string, error) {
	max = clampMax(max)
	root := tagRoot(cloud, rt)
	escPrefix := escapeTag(prefix)
	after := ""
	if cursor != "" {
		esc, err := decodeCursor(cursor)
		if err != nil || !strings.HasPrefix(esc, escPrefix) || strings.Contains(esc, "/") {
			return nil, "", ErrBadCursor
		}
		after = root + esc + "/" + maxKey
	}
	var out []string
	lastEsc := ""
	for len(out) < max {
		// Gather candidate tags, one List per tag at most.
		var cands []string
		exhausted := false
		for len(cands) < max-len(out) {
			objs, err := r.Store.List(ctx, root+escPrefix, after, 32)
			if err != nil {
				return nil, "", err
			}
			if len(objs) == 0 {
				exhausted = true
				break
			}
			for _, o := range objs {
				esc, _, ok := strings.Cut(o.Key[len(root):], "/")
				if ok && (len(cands) == 0 || cands[len(cands)-1] != esc) {
					cands = append(cands, esc)
				}
			}
			after = root + cands[len(cands)-1] + "/" + maxKey
			if len(cands) > max-len(out) {
				cands = cands[:max-len(out)]
				after = root + cands[len(cands)-1] + "/" + maxKey
			}
		}
		live := make([]bool, len(cands))
		err := ForEach(ctx, len(cands), func(i int) error {
			var err error
			live[i], err = r.tagLive(ctx, cloud, rt, root+cands[i]+"/")
			return err
		})
		if err != nil {
			return nil, "", err
		}
		for i, esc := range cands {
			lastEsc = esc
			if !live[i] {
				continue
			}
			if t, ok := unescapeTag(esc); ok {
				out = append(out, t)
			}
		}
		if exhausted {
			return out, "", nil
		}
	}
	// Say there is more only if another tag key exists.
	if objs, err := r.Store.List(ctx, root+escPrefix, after, 1); err != nil || len(objs) == 0 {
		return out, "", err
	}
	return out, encodeCursor(lastEsc), nil
}

// tagLive reports whether any marker under base names an asset that
// really has the tag.
func (r *Repo) tagLive(ctx context.Context, cloud, rt, base string) (bool, error) {
	esc := strings.TrimSuffix(base[len(tagRoot(cloud, rt)):], "/")
	tag, ok := unescapeTag(esc)
	if !ok {
		return false, nil
	}
	for after := ""; ; {
		objs, err := r.Store.List(ctx, base, after, 16)
		if err != nil || len(objs) == 0 {
			return false, err
		}
		for _, o := range objs {
			typ, id, ok := parseMarker(o.Key[len(base):])
			if !ok {
				continue
			}
			a, _, err := r.Get(ctx, cloud, rt, typ, id)
			if err == nil && slices.Contains(a.Tags, tag) {
				return true, nil
			}
			if err != nil && !errors.Is(err, ErrNotFound) {
				return false, err
			}
		}
		after = objs[len(objs)-1].Key
	}
}

// ErrBadCursor means a next_cursor was not one this listing returned.
var ErrBadCursor = errors.New("asset: invalid cursor")

func encodeCursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) == 0 {
		return "", ErrBadCursor
	}
	return string(b), nil
}

// DefaultMax and MaxResults are Cloudinary's page size default and cap.
const (
	DefaultMax = 10
	MaxResults = 500
)

func clampMax(n int) int {
	if n <= 0 {
		return DefaultMax
	}
	return min(n, MaxResults)
}
